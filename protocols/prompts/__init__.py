"""The built-in protocols' prompt templates (``<name>.txt``, :class:`string.Template`)."""

from minions.prompts import renderer

render = renderer(__name__)
