"""The messaging gateway's channel-agnostic core: a chat client (WhatsApp, Telegram ...)
implements :class:`Channel` and hands each :class:`IncomingMessage` to :class:`Gateway`,
which talks to a running ``moco ui`` through its HTTP API and event stream."""

from moco.gateway.channel import Channel, IncomingMessage, Media, split_message
from moco.gateway.core import Gateway
from moco.gateway.store import ChatState, ChatStore

__all__ = ["Channel", "ChatState", "ChatStore", "Gateway", "IncomingMessage", "Media",
           "split_message"]
