"""Links endpoints: create, list, read, change, QR codes."""

from __future__ import annotations

import io
import uuid
from typing import Annotated, Literal

import segno
from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response, status

from skinstack.accounts.deps import CurrentInfluencer, CurrentReader
from skinstack.db import DBSession
from skinstack.errors import Forbidden, NotFound, problems
from skinstack.kit.pagination import Page, PageParams, page_of, page_params
from skinstack.links import repository, service
from skinstack.links.schemas import LinkIn, LinkOut, LinkPatch
from skinstack.models import Role, TrackingLink

router = APIRouter(prefix="/api/v1", tags=["links"])
Paging = Annotated[PageParams, Depends(page_params)]


def short_url(request: Request, slug: str) -> str:
    return f"{request.app.state.settings.short_domain.rstrip('/')}/l/{slug}"


def link_out(request: Request, link: TrackingLink) -> LinkOut:
    return LinkOut(short_url=short_url(request, link.slug),
                   **{name: getattr(link, name) for name in LinkOut.model_fields
                      if name != "short_url"})


async def _get(link_id: uuid.UUID, reader: CurrentReader, session: DBSession) -> TrackingLink:
    link = await repository.get_link(session=session, link_id=link_id, reader=reader)
    if link is None:
        raise NotFound("No such link.")
    return link


@router.post("/links", status_code=status.HTTP_201_CREATED, response_model=LinkOut,
             responses={409: {"description": "Slug taken, or no influencer profile yet"}})
async def create_link(request: Request, data: LinkIn, influencer: CurrentInfluencer,
                      session: DBSession, background: BackgroundTasks) -> LinkOut:
    link = await service.create_link(session=session, influencer=influencer, data=data)
    # A redirect may have remembered this slug as unknown: forget it once this commits.
    background.add_task(request.app.state.link_cache.invalidate, link.slug)
    return link_out(request, link)


@router.get("/links", response_model=Page[LinkOut])
async def list_links(request: Request, reader: CurrentReader, session: DBSession, page: Paging,
                     program_id: uuid.UUID | None = None) -> Page[LinkOut]:
    """Influencers: their own links; merchants: links to their programs; admins: all."""
    rows = await repository.list_links(session=session, reader=reader, page=page,
                                       program_id=program_id)
    items, next_cursor = page_of(rows, page)
    return Page(items=[link_out(request, link) for link in items], next_cursor=next_cursor)


@router.get("/links/{link_id:uuid}", response_model=LinkOut,
            responses=problems(NotFound))
async def get_link(request: Request, link_id: uuid.UUID, reader: CurrentReader,
                   session: DBSession) -> LinkOut:
    return link_out(request, await _get(link_id, reader, session))


@router.patch("/links/{link_id:uuid}", response_model=LinkOut,
              responses=problems(Forbidden, NotFound))
async def patch_link(request: Request, link_id: uuid.UUID, data: LinkPatch,
                     reader: CurrentReader, session: DBSession,
                     background: BackgroundTasks) -> LinkOut:
    """The link's influencer, or an admin, may deactivate or expire it."""
    if reader.role == Role.merchant:
        raise Forbidden("Links are changed by their influencer or an admin.")
    link = await service.update_link(session=session,
                                     link=await _get(link_id, reader, session), data=data)
    # Runs after the commit: every process stops redirecting within the pub/sub delay.
    background.add_task(request.app.state.link_cache.invalidate, link.slug)
    return link_out(request, link)


@router.get("/links/{link_id:uuid}/qr.{kind}", response_class=Response,
            responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}},
                       **problems(NotFound)})
async def link_qr(request: Request, link_id: uuid.UUID, kind: Literal["png", "svg"],
                  reader: CurrentReader, session: DBSession) -> Response:
    link = await _get(link_id, reader, session)
    code = segno.make(short_url(request, link.slug), error="m")
    buffer = io.BytesIO()
    if kind == "png":
        code.save(buffer, kind="png", scale=10, border=4)
        media_type = "image/png"
    else:
        code.save(buffer, kind="svg", scale=10, border=4, xmldecl=False)
        media_type = "image/svg+xml"
    return Response(buffer.getvalue(), media_type=media_type,
                    headers={"Cache-Control": "private, max-age=3600"})
