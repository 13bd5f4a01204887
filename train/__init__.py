"""Training integrations: VeRL GRPO over cm2 environments (``train.verl``, ``train.grpo``)."""
