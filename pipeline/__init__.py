"""pipeline: research papers in, reviewed bilingual grounded summaries and a Markdown list out."""

__version__ = "0.1.0"
