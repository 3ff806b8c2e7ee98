"""The pull-request report and the quality gate behind `mlgate report` and `mlgate gate`."""
