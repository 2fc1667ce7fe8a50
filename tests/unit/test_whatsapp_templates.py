from __future__ import annotations

import pytest

from airflow_provider_messaging.core.errors import TemplateError
from airflow_provider_messaging.whatsapp.messages import Media, Template, TemplateButton
from airflow_provider_messaging.whatsapp.templates import (
    check_template,
    find_template,
    parse_template,
)

ORDER_SHIPPED = parse_template({
    "id": "1", "name": "order_shipped", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
    "parameter_format": "POSITIONAL",
    "components": [
        {"type": "HEADER", "format": "DOCUMENT"},
        {"type": "BODY", "text": "Hi {{1}}, your order total {{2}} ships {{3}}."},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Got it"},
                                        {"type": "URL", "text": "Track", "url": "https://e.com/t/{{1}}"}]},
    ],
})  # fmt: skip
GREET = parse_template({"name": "greet", "language": "de", "status": "APPROVED", "parameter_format": "NAMED",
                        "components": [{"type": "BODY", "text": "Hallo {{first_name}}, {{ city }}!"}]})  # fmt: skip
DOC = Media("document", link="https://e.com/i.pdf")


def test_a_matching_send_passes():
    check_template(Template("order_shipped", "en_US", ["a", "b", "c"], header_media=DOC,
                            buttons=[TemplateButton("url", 1, "7781")]), ORDER_SHIPPED)  # fmt: skip
    check_template(Template("greet", "de", {"first_name": "M", "city": "Berlin"}), GREET)


@pytest.mark.parametrize(
    ("template", "message"),
    [(Template("order_shipped", "en_US", ["a", "b"], header_media=DOC, buttons=[TemplateButton("url", 1, "x")]),
      "expects 3 body parameter(s), got 2"),
     (Template("order_shipped", "en_US", ["a", "b", "c"], buttons=[TemplateButton("url", 1, "x")]),
      "needs a document header parameter, got none"),
     (Template("order_shipped", "en_US", ["a", "b", "c"], header_media=DOC), "URL button(s) at index [1]")],
)  # fmt: skip
def test_parameter_mismatches_are_named(template, message):
    with pytest.raises(TemplateError) as err:
        check_template(template, ORDER_SHIPPED)
    assert message in str(err.value) and err.value.code == "132000"


def test_named_templates_need_the_exact_names():
    with pytest.raises(TemplateError, match=r"missing \['city'\], unexpected \['town'\]"):
        check_template(Template("greet", "de", {"first_name": "M", "town": "B"}), GREET)
    with pytest.raises(TemplateError, match="pass a mapping"):
        check_template(Template("greet", "de", ["M", "B"]), GREET)


@pytest.mark.parametrize(
    ("status", "code"), [("PAUSED", "132015"), ("DISABLED", "132016"), ("PENDING", "132001")]
)
def test_only_approved_templates_pass(status, code):
    info = parse_template({"name": "t", "language": "en", "status": status, "components": []})
    with pytest.raises(TemplateError) as err:
        check_template(Template("t", "en"), info)
    assert status in str(err.value) and err.value.code == code


def test_unknown_template_or_language_is_named():
    with pytest.raises(TemplateError, match="no template named 'nope'"):
        find_template([ORDER_SHIPPED], "nope", "en_US")
    with pytest.raises(TemplateError, match=r"has no 'de' version \(it exists in en_US\)"):
        find_template([ORDER_SHIPPED], "order_shipped", "de")
    assert find_template([GREET, ORDER_SHIPPED], "order_shipped", "en_US") is ORDER_SHIPPED
