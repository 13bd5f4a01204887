"""Policies that act in cm2 envs. ``AGENTS`` maps CLI names to factories."""

from cm2_env.components import Registry

AGENTS = Registry(
    "agent",
    lazy={
        "reference": "agents.reference:ReferenceAgent",
        "perturbed": "agents.perturbed:PerturbedAgent",
        "openai": "agents.openai_agent:OpenAIChatAgent",
        "fixed": "agents.fixed:FixedReplyAgent",
        "hf": "agents.hf_agent:HFAgent",
    },
)

__all__ = ["AGENTS"]
