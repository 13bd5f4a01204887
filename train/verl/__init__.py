"""VeRL integration: the cm2 agent loop, reward passthrough and launch helpers.

Importing this package does not import verl; import ``train.verl.agent_loop`` for the agent loop.
"""

AGENT_NAME = "cm2_env"
"""Value of the dataset's ``agent_name`` column that selects :class:`train.verl.agent_loop.CM2AgentLoop`."""
