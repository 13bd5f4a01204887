"""One OpenAI-compatible async client layer for every LLM role (tool simulator, user, judge, labeller)."""

from .cache import ResponseCache, canonical_key, open_cache
from .client import LLMClient, LLMError, LLMResponse, build_client
from .config import Endpoint, LLMConfig, LLMConfigError, Price
from .jsonout import JSONOutputError, extract_json, parse_json_output, validate_json
from .usage import RoleUsage, UsageMeter, active_meters, record, track_usage

__all__ = [
    "ResponseCache", "canonical_key", "open_cache", "LLMClient", "LLMError", "LLMResponse", "build_client",
    "Endpoint", "LLMConfig", "LLMConfigError", "Price", "JSONOutputError", "extract_json", "parse_json_output",
    "validate_json", "RoleUsage", "UsageMeter", "active_meters", "record", "track_usage",
]
