"""Facebook Lead Ads leads, from the Graph API and from the Ads Manager / Leads Center download.

Graph API (`GET /{form_id}/leads` pages `{"data": [...], "paging": {...}}`, or one lead
`GET /{lead_id}` as fetched after a `leadgen` webhook): `id`, `created_time`, `ad_id`,
`adset_id`, `campaign_id`, `form_id`, `is_organic`, `platform`, `field_data` (a list of
`{"name": ..., "values": [...]}`, one per form question) and
`custom_disclaimer_responses` (`{"checkbox_key": ..., "is_checked": ...}`).

The download (CSV or TSV, UTF-8 or UTF-16): the columns `id`, `created_time`, `ad_id`,
`ad_name`, `adset_id`, `adset_name`, `campaign_id`, `campaign_name`, `form_id`,
`form_name`, `is_organic`, `platform`, then one column per question named like the
`field_data` names, and (Leads Center) `lead_status`. Ids in the download carry a type
prefix (`l:` for the lead id), stripped so both routes give the same record id; phone
numbers carry `p:`, stripped too.

Standard question names: `email`, `full_name`, `first_name`, `last_name`, `phone_number`,
`country`, `city`, `zip_code`... A checked consent checkbox in `custom_disclaimer_responses`
becomes granted marketing consent at `created_time`.

Every other question is a custom one: its name and all its values (a multiple-choice
question gives several) become the draft's answers, in form order; the Graph API gives no
label, so the name is the key and the label is None. An unanswered question (no values,
an empty download cell) is no answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from chalicelib.normalize.connectors.base import Connector, Draft, scalar
from chalicelib.normalize.schema import InteractionType
from chalicelib.raw_files.formats import FileFormat

NAMESPACE = "facebook_leads"
# Meta's standard (prefill) questions: mapped onto the contact or not kept, never answers
STANDARD_QUESTIONS = frozenset(
    {
        "email",
        "work_email",
        "full_name",
        "first_name",
        "last_name",
        "phone_number",
        "work_phone_number",
        "country",
        "city",
        "state",
        "province",
        "street_address",
        "post_code",
        "zip_code",
        "zip",
        "date_of_birth",
        "gender",
        "marital_status",
        "relationship_status",
        "military_status",
        "job_title",
        "company_name",
    }
)
_ID_PREFIX = "l:"
_PHONE_PREFIX = "p:"  # the download prefixes phone numbers so spreadsheets keep them as text


def _answers_from_field_data(field_data: Any) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    if not isinstance(field_data, list):
        return answers
    for entry in field_data:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        values = entry.get("values")
        if isinstance(values, list) and values:
            answers[entry["name"].strip().lower()] = values[0]
    return answers


def _custom_answers(field_data: Any) -> list[tuple[Any, Any, list[Any]]]:
    """The non-standard questions of `field_data` with all their values, in form order."""
    custom: list[tuple[Any, Any, list[Any]]] = []
    if not isinstance(field_data, list):
        return custom
    for entry in field_data:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        name, values = entry["name"].strip(), entry.get("values")
        if name and name.lower() not in STANDARD_QUESTIONS and isinstance(values, list) and values:
            custom.append((name, None, values))
    return custom


def _consent(data: dict[str, Any]) -> bool | None:
    responses = data.get("custom_disclaimer_responses")
    if not isinstance(responses, list) or not responses:
        return None
    checked = [r.get("is_checked") for r in responses if isinstance(r, dict)]
    if not checked:
        return None
    # Facebook sends booleans, or "1"/"" in some API versions
    return all(value in (True, "1", 1, "true") for value in checked)


def _lead_draft(
    answers: dict[str, Any],
    created_time: Any,
    form_id: str | None,
    consent: bool | None,
    custom: list[tuple[Any, Any, list[Any]]],
    is_test: bool = False,
) -> Draft:
    return Draft(
        interaction_type=InteractionType.LEAD_FORM,
        occurred_at=created_time,
        email=answers.get("email") or answers.get("work_email"),
        first_name=answers.get("first_name"),
        last_name=answers.get("last_name"),
        full_name=answers.get("full_name"),
        phone=answers.get("phone_number") or answers.get("work_phone_number"),
        country=answers.get("country"),
        consent_granted=consent,
        consent_at=created_time if consent is not None else None,
        consent_source=f"facebook_lead_form:{form_id}" if form_id else "facebook_lead_form",
        item=f"form:{form_id}" if form_id else None,
        answers=custom or None,
        is_test=is_test,
    )


class FacebookLeadsGraph(Connector):
    name = "facebook_leads"
    id_namespace = NAMESPACE
    file_format = FileFormat(kind="json", extensions=("json",), page_keys=("data",))

    def record_id(self, data: dict[str, Any]) -> str | None:
        return scalar(data.get("id"))

    def draft(self, data: dict[str, Any]) -> Draft:
        return _lead_draft(
            _answers_from_field_data(data.get("field_data")),
            data.get("created_time"),
            scalar(data.get("form_id")),
            _consent(data),
            _custom_answers(data.get("field_data")),
        )


class FacebookLeadsDownload(Connector):
    name = "facebook_leads_csv"
    id_namespace = NAMESPACE
    file_format = FileFormat(kind="delimited", extensions=("csv", "tsv", "txt"), delimiter=None)
    required_columns = (("id",), ("email", "work_email"))
    _meta_columns: ClassVar[frozenset[str]] = frozenset(
        {
            "id",
            "created_time",
            "ad_id",
            "ad_name",
            "adset_id",
            "adset_name",
            "campaign_id",
            "campaign_name",
            "form_id",
            "form_name",
            "is_organic",
            "platform",
            "lead_status",
        }
    )

    def missing_columns(self, header: Sequence[str]) -> list[str]:
        """As read: the meta columns by their exact names, the questions in any case."""
        named = (c.strip().lower() for c in header)
        return super().missing_columns([c if n in self._meta_columns else n for c, n in zip(header, named)])

    def record_id(self, data: dict[str, Any]) -> str | None:
        lead = scalar(data.get("id"))
        if lead and lead.startswith(_ID_PREFIX):
            lead = lead[len(_ID_PREFIX) :]
        return lead or None

    def draft(self, data: dict[str, Any]) -> Draft:
        answers = {
            str(k).strip().lower(): v
            for k, v in data.items()
            if str(k).strip().lower() not in self._meta_columns and v not in (None, "")
        }
        form = scalar(data.get("form_id"))
        if form and form.startswith("f:"):
            form = form[2:]
        phone = answers.get("phone_number")
        if isinstance(phone, str) and phone.startswith(_PHONE_PREFIX):
            answers["phone_number"] = phone[len(_PHONE_PREFIX) :]
        custom: list[tuple[Any, Any, list[Any]]] = [
            (str(k).strip(), None, [v])
            for k, v in data.items()
            if str(k).strip().lower() in answers and str(k).strip().lower() not in STANDARD_QUESTIONS
        ]
        return _lead_draft(answers, data.get("created_time"), form, None, custom)


CONNECTORS = [FacebookLeadsGraph(), FacebookLeadsDownload()]
