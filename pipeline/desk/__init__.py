"""The review desk (``pipeline review serve``): a local web page for checking drafts against the paper.

`app` is the Starlette app (queue, paper page, edits, decisions, and the token and same-site checks),
`paper` the paper text as numbered sentences and what each bullet cites, `actions` the edits and
decisions (the store's and the CLI's own functions), `preview` the entry as the rendered list shows it,
and `server` runs it on 127.0.0.1 with uvicorn.
"""
