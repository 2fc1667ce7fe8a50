"""A report the pipeline generates, sent as a PDF on WhatsApp and gated on its delivery.

The PDF is written to object storage (``report_dir``: ``file://`` here, ``s3://bucket/reports/`` on
a real platform, read through Airflow's ``ObjectStoragePath``), uploaded once to WhatsApp and sent
by media id: no public URL is needed. The recipient is a business-scoped user id, as a user who
hides their number behind a username is known (``US.15550002008`` is such a user in the sandbox);
a phone number works the same. ``make demo`` runs it against the sandbox with the webhook receiver.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, Param, task

from airflow_provider_messaging.operators.whatsapp import WhatsAppSendMessageOperator
from airflow_provider_messaging.sensors.whatsapp import WhatsAppMessageSensor


def pdf_bytes(lines: list[str]) -> bytes:
    """A one-page PDF with ``lines`` of text (enough for a report; no PDF library needed)."""
    text = "".join(
        f"BT /F1 12 Tf 72 {760 - 18 * i} Td ({line.replace(chr(92), '').replace('(', '[').replace(')', ']')}) Tj ET\n"
        for i, line in enumerate(lines)
    ).encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%sendstream" % (len(text), text),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


with DAG(
    dag_id="whatsapp_pdf_report",
    description="Generate a PDF report, send it on WhatsApp, gate on its delivery",
    schedule="0 7 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "to": Param("US.15550002008", type="string", description="A phone number (E.164) or a user id"),
        "report_dir": Param(
            "file:///tmp/messaging-reports/", type="string", description="Object storage URL"
        ),
    },
    tags=["messaging", "whatsapp", "example"],
) as dag:

    @task
    def render_report(params: dict, dag_run=None) -> str:
        day = dag_run.run_after.strftime("%Y-%m-%d")  # every run has one; a manual run has no logical date
        path = ObjectStoragePath(params["report_dir"]) / f"daily-report-{day}.pdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"Daily report {day}", "", "Rows loaded: 1,204,311", "Failed checks: 0"]
        with path.open("wb") as handle:
            handle.write(pdf_bytes(lines))
        return str(path)

    report = render_report()

    send_report = WhatsAppSendMessageOperator(
        task_id="send_report",
        to="{{ params.to }}",
        media_path=report,  # uploaded once, sent by media id as a document named after the file
        caption="Daily report {{ dag_run.run_after | ds }}",
    )

    wait_for_delivery = WhatsAppMessageSensor(
        task_id="wait_for_delivery",
        message_ids=send_report.output,
        deferrable=True,
        poll_interval=1,
        timeout=300,
    )
