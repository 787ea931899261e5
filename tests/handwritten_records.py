"""Hand-written summary records for the store, review and validate tests (not model output).

The English evidence quotes are sentences of `HANDWRITTEN_SOURCE_TEXT`, written for these tests, so
grounding can be checked without any third-party paper.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pipeline.model.summary import SummaryRecord

HANDWRITTEN_SOURCE_TEXT = """Introduction
Annotating medical images requires expert knowledge and is time consuming, so labelled scans are scarce.
We propose a simple consistency framework that enforces agreement between two perturbed views of a scan.
Method
The teacher weights are an exponential moving average of the student weights with a decay of 0.99.
"""


def handwritten_record(key: str = "2209.08575", *, status: str = "draft",
                       backend: str = "remote", **changes: Any) -> SummaryRecord:
    """A schema-valid record written by hand: 3 parallel bullet groups, grounded in the text above."""
    en = {
        "problems": [{"text": "Labelled medical scans are scarce because expert annotation is slow and costly.",
                      "evidence": "annotating medical images requires expert knowledge and is time consuming"}],
        "motivation": [{"text": "Predictions on two perturbed views of one scan should agree, giving a signal.",
                        "evidence": "a simple consistency framework that enforces agreement between two "
                                    "perturbed views"}],
        "framework": [{"text": "A student learns from a teacher whose weights average the student's with decay 0.99.",
                       "evidence": "the teacher weights are an exponential moving average of the student weights"}],
    }
    zh = {"problems": ["医学图像的标注需要专家知识，成本很高，因此有标签的数据十分稀缺。"],
          "motivation": ["同一图像两个扰动视图上的预测应当一致，这提供了额外的训练信号。"],
          "framework": ["学生网络向 teacher 网络学习，teacher 的权重是学生权重的指数滑动平均。"]}
    data: dict[str, Any] = {
        "key": key,
        "status": status,
        "paper": {"arxiv_id": key, "version": 1, "title": "A Handwritten Test Paper on Consistency",
                  "authors": ["Ada Lovelace", "Grace Hopper", "Alan Turing"], "first_author": "Ada Lovelace",
                  "last_author": "Alan Turing", "date": "2022-09", "venue": "MICCAI2022"},
        "summary": {"en": en, "zh": zh, "dim": "2D", "setting": "semi-supervised", "tags": ["consistency"]},
        "warnings": [],
        "provenance": {"backend": backend, "model": "handwritten-model", "pipeline_version": "0.1.0",
                       "source_sha256": "0" * 64, "grounding_score": 1.0,
                       "created_at": dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)},
    }
    data.update(changes)
    return SummaryRecord.model_validate(data)
