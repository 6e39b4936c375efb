"""`make eval`: measure docsort on a labelled folder with the pipeline users get, and report
accuracy, per-category scores, confusions, calibration and speed."""
