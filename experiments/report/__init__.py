"""The HTML report and its pictures: building it (`build`, a list of page sections;
`python -m experiments.report RUN`) from a run as it reads it (`run_data`), the page sections
(`edit_sections`, `sections`, `subject_pages`, `generator_section`), rendering the templates
(`pages`, `templates/`), tables as the report shows them (`html_tables`), figures (`figures`,
`severity_figures`, `heatmap`), the findings card (`findings`) and the training warning it carries
(`training_warnings`), the subject pages' small pictures (`gallery`) and words for a run's edits
(`naming`).

May import: `config`, `inputs`, `models`, `stats`, `rundir`, `execution`, the libraries, and the pure
table functions of `stages` (score tables, claims, the scored edit); never the runner."""
