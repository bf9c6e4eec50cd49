"""The framework: configs, methods, the run store, the runner, comparisons, tables, figures, the report and the CLI.

It knows no experiment by name: experiments are found by import path (:mod:`.registry`).
"""
