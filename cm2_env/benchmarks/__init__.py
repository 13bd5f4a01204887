"""Benchmark adapters (BFCL, tau2-bench, ToolSandbox)."""
