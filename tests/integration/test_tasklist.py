"""The admin task list (/admin/queues/tasks/) through Django's test client, over a real Redis."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from tests.integration.api_fixtures import redis_down  # noqa: F401
from tests.tasklist_seed import RARE, seed, seed_id, seed_path, seed_status

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/admin/queues/tasks/"


def ids(page: str) -> list[str]:
    return re.findall(r'data-task-id="([^"]+)"', page)


def link(page: str, name: str) -> str | None:
    found = re.search(rf'id="tq-{name}" href="([^"]+)"', page)
    return found.group(1).replace("&amp;", "&") if found else None


@pytest.fixture
def seeded(broker):
    seed(broker, 0, 1200)
    return 1200


def test_pages_run_newest_first_through_everything_to_the_oldest(admin_client, seeded):
    first = admin_client.get(URL).content.decode()
    assert ids(first) == [seed_id(i) for i in range(1199, 1149, -1)]
    assert link(first, "newer") is None

    second = admin_client.get(link(first, "older")).content.decode()
    assert ids(second) == [seed_id(i) for i in range(1149, 1099, -1)]
    back = admin_client.get(link(second, "newer")).content.decode()
    assert ids(back) == ids(first)

    oldest = admin_client.get(link(first, "oldest")).content.decode()
    assert ids(oldest) == [seed_id(i) for i in range(49, -1, -1)]
    assert link(oldest, "older") is None
    newer = admin_client.get(link(oldest, "newer")).content.decode()
    assert ids(newer) == [seed_id(i) for i in range(99, 49, -1)]


def test_a_row_shows_path_queue_status_finish_time_duration_and_links_the_task(
    admin_client, seeded
):
    page = admin_client.get(URL, {"id": seed_id(7)}).content.decode()

    assert ids(page) == [seed_id(7)]
    row = page[page.index('data-task-id="seed-000007"') :].split("</tr>")[0]
    assert seed_path(7) in row
    assert ">default<" in row
    assert "FAILED" in row
    assert "250.0 ms" in row
    assert "2026-05-28 " in row
    assert f'href="/admin/queues/tasks/{seed_id(7)}/"' in row  # its task page


def test_search_by_unknown_id_says_so(admin_client, seeded):
    page = admin_client.get(URL, {"id": "nope"}).content.decode()
    assert ids(page) == []
    assert "No finished task with this id is in retention." in page


def test_filters_by_path_prefix_task_status_queue_and_time(admin_client, seeded):
    by_prefix = ids(admin_client.get(URL, {"path": "recipe."}).content.decode())
    assert len(by_prefix) == 50
    assert all(seed_path(int(i[5:])).startswith("recipe.") for i in by_prefix)

    page = admin_client.get(URL, {"task": "tests.tasks.fail", "status": "FAILED"})
    found = ids(page.content.decode())
    assert found
    assert all(
        seed_path(int(i[5:])) == "tests.tasks.fail"
        and seed_status(int(i[5:])) == "FAILED"
        for i in found
    )
    # Task 3 finished at BASE + 3 ms: 2026-05-28T20:26:40.003 UTC.
    window = {"since": "2026-05-28T20:26:40", "until": "2026-05-28T20:26:40.010"}
    timed = admin_client.get(URL, window).content.decode()
    assert ids(timed) == [seed_id(i) for i in range(10, -1, -1)]
    assert 'value="2026-05-28T20:26:40.010000"' in timed  # the form keeps the ms
    assert ids(admin_client.get(URL, {"queue": "high"}).content.decode()) == []


def test_a_rare_filter_scans_a_bounded_window_and_links_on(admin_client, seeded):
    # Over both queues the 500 are shared (250 each); one queue gets them all.
    shared = admin_client.get(URL, {"path": RARE}).content.decode()
    assert ids(shared) == [seed_id(999)]  # among 1199 .. 950, the 250 read
    assert "Searched 250 tasks back to 2026-05-28 20:26:40 UTC and found 1" in shared
    page = admin_client.get(URL, {"path": RARE, "queue": "default"}).content.decode()

    assert ids(page) == [seed_id(999)]  # among 1199 .. 700, the 500 read
    assert "Searched 500 tasks back to 2026-05-28 20:26:40 UTC and found 1" in page
    more = admin_client.get(link(page, "older")).content.decode()  # 699 .. 200
    assert ids(more) == []
    assert "No matching task in this stretch." in more
    last = admin_client.get(link(more, "older")).content.decode()  # 199 .. 0
    assert ids(last) == []
    assert link(last, "older") is None
    assert "Searched" not in last


def test_an_expired_record_reads_as_gone(admin_client, broker, seeded):
    broker.client.delete(broker.keys("default").result(seed_id(1199)))

    page = admin_client.get(URL).content.decode()

    assert seed_id(1199) not in ids(page)
    assert ids(page)[0] == seed_id(1198)


def test_garbage_parameters_get_a_message_not_a_500(admin_client, seeded):
    response = admin_client.get(
        URL, {"status": "LOST", "queue": "nope", "since": "yesterday",
              "before": "x:y", "after": "nan:z", "id": "x" * 600},
    )  # fmt: skip

    page = response.content.decode()
    assert response.status_code == 200
    for message in ("Unknown status", "Unknown queue", "is not a date",
                    "Unreadable page position", "longer than 500"):  # fmt: skip
        assert message in page
    assert len(ids(page)) == 50


@pytest.mark.usefixtures("redis_down")
def test_redis_down_is_said_on_the_page(admin_client):
    response = admin_client.get(URL)
    assert response.status_code == 200
    assert "Redis is unavailable" in response.content.decode()


def test_staff_only_and_linked_from_the_dashboard(client, admin_client, seeded):
    assert client.get(URL).status_code == 302  # anonymous: the login page
    plain = User.objects.create_user("plain", password="pw")
    client.force_login(plain)
    assert client.get(URL).status_code == 302
    # Staff with no permission: ids, paths and statuses are theirs to see (docs/permissions.md).
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    assert len(ids(client.get(URL).content.decode())) == 50
    assert (
        'href="/admin/queues/tasks/"'
        in admin_client.get("/admin/queues/").content.decode()
    )


def test_pages_walk_many_buckets_of_two_queues_each_task_once(admin_client, broker):
    """130 tasks 9 s apart (about 7 a minute's bucket), a third of them in 'high'."""
    expected = []
    for i in range(130):
        queue = "high" if i % 3 == 0 else "default"
        k, task_id, when = broker.keys(queue), f"spread-{i:03d}", 1_780_000_000 + 9 * i
        envelope = b'{"v":1,"id":"%s","task":"t.t","queue":"%s"}' % (
            task_id.encode(), queue.encode(),
        )  # fmt: skip
        broker.client.hset(k.result(task_id), mapping={
            "msg": envelope, "status": "SUCCESSFUL", "finished_at": when,
            "bucket": when // 60,
        })  # fmt: skip
        broker.client.rpush(k.finished_prefix + str(when // 60), task_id)
        broker.client.zadd(k.finished_minutes, {str(when // 60): when // 60})
        expected.insert(0, task_id)

    first = page = admin_client.get(URL).content.decode()
    pages = []
    while True:
        pages.append(ids(page))
        if link(page, "older") is None:
            break
        page = admin_client.get(link(page, "older")).content.decode()
    assert [len(p) for p in pages] == [50, 50, 30]
    assert [i for p in pages for i in p] == expected
    newer = admin_client.get(link(page, "newer")).content.decode()
    assert ids(newer) == pages[1]
    oldest = admin_client.get(link(first, "oldest")).content.decode()
    assert ids(oldest) == expected[-50:]
    up = admin_client.get(link(oldest, "newer")).content.decode()
    assert ids(up) == expected[-100:-50]
