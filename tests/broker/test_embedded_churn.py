"""The embedded broker delivers every message while other clients subscribe.

amqtt walks its subscription table in the broadcast task and awaits the topic-rules check
for each subscriber; a SUBSCRIBE handled during that await changed the table under the
walk, the task died with "dictionary changed size during iteration", and the message was
never delivered to the subscribers not yet reached. ``GuardedBroker`` walks a snapshot.
"""

from __future__ import annotations

import pytest

from tests.broker.support import Client, R, secured_embedded
from tests.servers import wait_for

pytestmark = pytest.mark.server


def test_no_message_lost_while_subscriptions_change(tmp_path_factory: pytest.TempPathFactory
                                                     ) -> None:
    with secured_embedded(tmp_path_factory.mktemp("churn")) as broker:
        ingest = Client(broker.port, broker.login("occmon-ingest"), client_id="churn-ingest")
        gateway = Client(broker.port, broker.login("occmon-gateway"), client_id="churn-gw")
        churn = [Client(broker.port, broker.login("occmon-ingest"), client_id=f"churn-{i}")
                 for i in range(8)]
        try:
            for i, client in enumerate(churn):  # many matching filters: each broadcast
                client.client.subscribe(f"{R}/+", qos=1)  # awaits the rules check per filter
                for j in range(10):
                    client.client.subscribe(f"{R}/state/q{i}-{j}", qos=1)
            ingest.subscribe(f"{R}/#")
            sent = [f"reading-{i}".encode() for i in range(1000)]
            for i, payload in enumerate(sent):
                gateway.client.publish(f"{R}/readings", payload, qos=1)
                # filters come and go while broadcasts are in flight
                churn[i % 8].client.subscribe(f"{R}/state/p{i}", qos=1)
                if i % 100 == 99:  # a client leaves: its filters are deleted from the table
                    k = (i // 100) % 8
                    churn[k].close()
                    churn[k] = Client(broker.port, broker.login("occmon-ingest"),
                                      client_id=f"churn-{k}-{i}")
                    for j in range(10):
                        churn[k].client.subscribe(f"{R}/state/r{i}-{j}", qos=1)
            wait_for(lambda: all(ingest.saw(p) for p in sent), 20,
                     what="every reading at the subscriber")
        finally:
            for client in (ingest, gateway, *churn):
                client.close()
