"""Markdown for adapter authors: the HTML and the styled text that networks carry.

``to_html`` renders the markdown subset unimsg supports; ``plain_to_html``
escapes plain text and links mentions; ``to_styled`` gives Signal-style text
plus style ranges.
"""

from ._markdown import plain_to_html, to_html, to_styled

__all__ = ["plain_to_html", "to_html", "to_styled"]
