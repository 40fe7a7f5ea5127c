"""Profiling routes (issue 14): stack dumps, the cluster-wide stack summary, CPU and memory profiles,
and what each node can profile. Models: dashboard/profiling_models.py; contract: docs of issue 14.

SIGNATURES ONLY (written by the web-UI helper so the TypeScript types generate): every body answers
501 until the lead's implementation replaces it.
"""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from rayscope.dashboard import models as m
from rayscope.dashboard import profiling_models as pm
from rayscope.dashboard.api.deps import ListingDep

router = APIRouter(tags=["profiling"])


def _todo() -> HTTPException:
    return HTTPException(501, "profiling is not implemented yet")


@router.post("/profiling/stacks", response_model=pm.StackDump)
def take_stack(body: pm.StackRequest) -> pm.StackDump:
    raise _todo()


@router.get("/profiling/stacks", response_model=m.Page[pm.StackDumpRow])
def list_stacks(q: ListingDep, task_id: Optional[str] = None, actor_id: Optional[str] = None,
                node_id: Optional[str] = None, pid: Optional[int] = None) -> m.Page[pm.StackDumpRow]:
    raise _todo()


@router.get("/profiling/stacks/{dump_id}", response_model=pm.StackDump)
def get_stack(dump_id: str) -> pm.StackDump:
    raise _todo()


@router.post("/profiling/stack-summary", response_model=pm.StackSummary)
def stack_summary(body: pm.SummaryRequest) -> pm.StackSummary:
    raise _todo()


@router.post("/profiling/profiles", response_model=pm.Profile, status_code=202)
def start_profile(body: pm.ProfileRequest) -> pm.Profile:
    raise _todo()


@router.get("/profiling/profiles", response_model=m.Page[pm.Profile])
def list_profiles(q: ListingDep) -> m.Page[pm.Profile]:
    raise _todo()


@router.get("/profiling/profiles/{profile_id}", response_model=pm.ProfileDetail)
def get_profile(profile_id: str) -> pm.ProfileDetail:
    raise _todo()


@router.get("/profiling/profiles/{profile_id}/speedscope.json", response_class=JSONResponse)
def get_speedscope(profile_id: str, download: bool = False) -> JSONResponse:
    raise _todo()


@router.get("/profiling/capabilities", response_model=list[pm.NodeProfilingCapabilities])
def capabilities() -> list[pm.NodeProfilingCapabilities]:
    raise _todo()
