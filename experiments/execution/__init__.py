"""Where work runs and how it stops: executors for units of work (`executors`: this process, local
cores, Ray), thread pools beside the models (`threads`), the Ray cluster a run joins or starts
(`raycluster`) and its watcher (`reaper`), Ctrl-C / SIGTERM as one line (`interrupts`) and
TensorFlow's start-up noise kept quiet (`quiet`).

May import: `experiments.config` and the standard library; nothing that loads a model."""
