"""Compatibility: the messages moved to :mod:`moco.messages` (below the core, shared by every
layer); this import path keeps working."""

from moco.messages import (
    DocumentPart,
    ImagePart,
    Message,
    Part,
    Role,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    part_from_dict,
    part_to_dict,
)

__all__ = [
    "DocumentPart",
    "ImagePart",
    "Message",
    "Part",
    "Role",
    "TextPart",
    "ToolCallPart",
    "ToolResultPart",
    "part_from_dict",
    "part_to_dict",
]
