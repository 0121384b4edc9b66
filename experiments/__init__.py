"""Experiments that check the paper's claims on the golden model (see REPORT.md).

Run each as ``python -m experiments.<name> [--quick]`` from the repository root.
"""
