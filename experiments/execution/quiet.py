"""Keep TensorFlow's start-up noise out of the console.

TensorFlow 2.21 logs through absl from C++ before TF_CPP_MIN_LOG_LEVEL is read ("oneDNN custom
operations are on", "Could not find cuda drivers"...), straight to file descriptor 2. The only
reliable way to hide it is to point fd 2 elsewhere while Keras and TensorFlow load; if the
import fails, what was captured is printed so nothing useful is lost.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings


@contextlib.contextmanager
def native_stderr_captured():
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_keras_quietly(verbose: bool = False):
    """Import keras (and its backend) with native start-up logs hidden unless `verbose`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", message="Do not pass an `input_shape`", category=UserWarning)
    if verbose or "keras" in sys.modules:
        import keras
    else:
        with native_stderr_captured():
            import keras

            keras.ops.convert_to_numpy(keras.ops.ones((1,)))  # first op: loads the runtime
    return keras
