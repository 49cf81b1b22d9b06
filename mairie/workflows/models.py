"""Workflow definitions, stored as data and versioned (see ``workflows.definition`` for the format)."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models

from mairie.core.tenancy import TenantManager

if TYPE_CHECKING:
    from mairie.workflows.definition import Definition


class WorkflowDefinition(models.Model):
    """One version of an organisation's workflow. Saving a change creates a new version; a running dossier
    keeps the version it started with (``Dossier.workflow`` points at this row, never at a name)."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    name = models.SlugField("identifiant", max_length=80)
    version = models.PositiveIntegerField(default=1)
    title = models.CharField("titre", max_length=200)
    # The parsed definition (statuses, transitions, actions), as ``workflows.definition`` validates it.
    definition = models.JSONField()
    # The text as the admin wrote or imported it (YAML or JSON), so that comments and layout survive.
    source = models.TextField(blank=True)
    # The version new dossiers start with: exactly one per (organisation, name) at most.
    is_current = models.BooleanField(default=True)
    is_active = models.BooleanField("proposé pour les nouveaux dossiers", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantManager["WorkflowDefinition"]()

    class Meta:
        ordering = ["name", "-version"]
        verbose_name = "définition de circuit de traitement"
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "name", "version"], name="unique_workflow_version"
            ),
            models.UniqueConstraint(
                fields=["organisation", "name"],
                condition=models.Q(is_current=True),
                name="one_current_workflow_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"

    @cached_property
    def parsed(self) -> Definition:
        """The definition read once per row (statuses, transitions, compiled conditions)."""
        from mairie.workflows.definition import Definition

        return Definition(self.definition)
