"""The embedded model backend: a pinned small GGUF model run in process by llama.cpp.

``install`` finds, joins and verifies the model; ``transport`` serves OpenAI chat completions from it
through an ``httpx2`` transport, so ``pipeline/model/llm.py`` drives it with the real ``openai`` client;
``backend`` holds its connection and the prompting profile that suits it. Importing this package never
imports ``llama_cpp``.
"""

from pipeline.model.embedded.backend import (
    LOCAL_TRANSLATE,
    embedded_backend,
    embedded_connection,
    embedded_profile,
)
from pipeline.model.embedded.install import (
    LOCAL_MODEL_NAME,
    MODEL_SPEC,
    LocalStatus,
    ModelSpec,
    install_model,
    is_available,
    joined_model_path,
    local_status,
)
from pipeline.model.embedded.runtime import Threads, thread_counts
from pipeline.model.embedded.transport import (
    EMBEDDED_API_KEY,
    EMBEDDED_BASE_URL,
    LocalChatTransport,
    local_http_client,
    local_transport,
)

__all__ = [
    "EMBEDDED_API_KEY",
    "EMBEDDED_BASE_URL",
    "LOCAL_MODEL_NAME",
    "LOCAL_TRANSLATE",
    "MODEL_SPEC",
    "LocalChatTransport",
    "LocalStatus",
    "ModelSpec",
    "Threads",
    "embedded_backend",
    "embedded_connection",
    "embedded_profile",
    "install_model",
    "is_available",
    "joined_model_path",
    "local_http_client",
    "local_status",
    "local_transport",
    "thread_counts",
]
