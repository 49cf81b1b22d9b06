"""Tenant scoping: every tenant-owned row has an ``organisation``; every read goes through ``for_org``."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from django.db import models

if TYPE_CHECKING:
    from mairie.organisations.models import Organisation

M = TypeVar("M", bound=models.Model)


class TenantQuerySet(models.QuerySet[M]):
    def for_org(self, organisation: Organisation) -> TenantQuerySet[M]:
        return self.filter(organisation=organisation)


class TenantManager(models.Manager[M]):
    def get_queryset(self) -> TenantQuerySet[M]:
        return TenantQuerySet(self.model, using=self._db)

    def for_org(self, organisation: Organisation) -> TenantQuerySet[M]:
        return self.get_queryset().for_org(organisation)
