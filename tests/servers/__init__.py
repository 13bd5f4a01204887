"""Local servers started by tests: a scripted OpenAI-compatible fake and a real `transformers serve`."""
