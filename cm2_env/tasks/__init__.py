"""Task data model, schema, loaders and bundled suites."""

from .cm2_format import from_cm2, is_cm2_record, to_cm2
from .loader import TaskError, TaskFileError, load_tasks, parse_tasks, validate_document, validate_file
from .models import (
    ArgConstraint,
    ChecklistItem,
    Evidence,
    Message,
    ReplyMatchesCheck,
    Task,
    TaskFile,
    ToolCalledCheck,
    ToolNotCalledCheck,
    ToolResultMatchesCheck,
    Turn,
    UserProfile,
)
from .bundled import list_suites, load_suite, resolve_tasks
from .selection import select_tasks

__all__ = [
    "ArgConstraint", "ChecklistItem", "Evidence", "Message", "ReplyMatchesCheck", "Task", "TaskFile",
    "ToolCalledCheck", "ToolNotCalledCheck", "ToolResultMatchesCheck", "Turn", "UserProfile",
    "TaskError", "TaskFileError", "load_tasks", "parse_tasks", "validate_document", "validate_file",
    "from_cm2", "to_cm2", "is_cm2_record", "list_suites", "load_suite", "resolve_tasks", "select_tasks",
]
