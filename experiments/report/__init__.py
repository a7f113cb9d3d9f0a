"""The HTML report and its pictures: building it (`build`; `python -m experiments.report RUN`),
tables as the report shows them (`html_tables`), figures (`figures`), the findings card
(`findings`) and the training warning it carries (`training_warnings`), the subject pages' small pictures (`gallery`), words for a run's edits (`naming`),
and the Jinja2 templates (`templates/`).

May import: `config`, `inputs`, `models`, `stats`, `rundir`, `execution`, the libraries, and the pure
table functions of `stages` (score tables, claims, the scored edit); never the runner."""
