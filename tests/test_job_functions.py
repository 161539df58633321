"""Every kind of request has its RQ job function, found by the dotted path its job hash names.

A lane's jobs name their function as ``JOB_FUNC_PREFIX + kind`` (shop.lanes.keys.job_func); the lane
consumer applies them without calling it, but rq-dashboard, a stock RQ worker (the benchmark's
baseline) and a manual replay import it. A kind without its function would fail only there.
"""

from __future__ import annotations

import pytest
from rq.utils import import_attribute

from shop.domain.requests import OrderKind, RequestKind
from shop.lanes.keys import JOB_FUNC_PREFIX, job_func, job_kind

# Plain classes of constants or enums alike: their upper-case names are the kinds.
KINDS = [getattr(kinds, name) for kinds in (RequestKind, OrderKind) for name in dir(kinds) if name.isupper()]


def test_the_kinds_are_found():
    assert {"hold", "checkout"} <= set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_request_kind_has_its_job_function_where_its_job_names_it(kind):
    path = job_func(kind)

    function = import_attribute(path)

    assert path.startswith(JOB_FUNC_PREFIX)
    assert callable(function)
    assert function.__module__ + "." + function.__name__ == path
    assert job_kind(path) == kind
