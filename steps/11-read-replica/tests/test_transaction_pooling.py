"""What PgBouncer's transaction pooling asks of Django: nothing of a client's may outlive
one transaction on a server connection (config/settings.py says why for each)."""

from django.db import connection

from crm.infrastructure.models import Customer


def test_a_chunked_read_declares_no_server_side_cursor(db, make_customer):
    make_customer(customer_id="T1")
    make_customer(customer_id="T2")
    chunks = Customer.objects.order_by("customer_id").iterator(chunk_size=1)
    first = next(chunks)
    with connection.cursor() as cursor:
        # A server-side cursor would be open here, between two chunks of the read.
        cursor.execute("SELECT count(*) FROM pg_cursors")
        assert cursor.fetchone() == (0,)
    assert [first.customer_id, *(c.customer_id for c in chunks)] == ["T1", "T2"]


def test_no_statement_is_prepared(db):
    connection.ensure_connection()
    assert connection.connection.prepare_threshold is None
