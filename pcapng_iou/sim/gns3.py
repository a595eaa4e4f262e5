"""A GNS3 project on disk, as GNS3 lays it out for IOU nodes, for tests and demos (stands alone).

:func:`write_project` writes ``<root>/<name>.gns3`` (JSON: ``topology.nodes`` and
``topology.links``) and, for every IOU node, its working directory
``<root>/project-files/iou/<node_id>/`` holding the 64-line NETMAP GNS3 writes
there: ``<id+512>:B/U    <id>:B/U`` for every bay 0-15 and unit 0-3.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass

BRIDGE_OFFSET = 512


@dataclass(frozen=True)
class Router:
    name: str
    instance: int
    ethernet_bays: int = 1
    serial_bays: int = 1

    @property
    def node_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pcapng-iou/{self.name}/{self.instance}"))


def gns3_netmap(instance: int) -> str:
    """The NETMAP GNS3 writes in an IOU node's working directory: every port to its bridge."""
    bridge = instance + BRIDGE_OFFSET
    return "".join(f"{bridge}:{bay}/{unit}    {instance}:{bay}/{unit}\n" for bay in range(16) for unit in range(4))


def project_json(routers, links) -> dict:
    """``links``: ((router, bay, unit), (router, bay, unit)) pairs."""
    nodes = [{"node_id": r.node_id, "name": r.name, "node_type": "iou", "port_name_format": "Ethernet{segment0}/{port0}",
              "properties": {"application_id": r.instance, "ethernet_adapters": r.ethernet_bays,
                             "serial_adapters": r.serial_bays}} for r in routers]
    drawn = [{"link_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"pcapng-iou/link/{number}")),
              "nodes": [{"node_id": r.node_id, "adapter_number": bay, "port_number": unit} for r, bay, unit in ends]}
             for number, ends in enumerate(links)]
    return {"name": "lab", "type": "topology", "revision": 9, "topology": {"nodes": nodes, "links": drawn}}


def write_project(root: str, routers, links, name: str = "lab") -> dict:
    """Write the project; the working directory of each router, by instance id."""
    folders = {}
    for router in routers:
        folder = os.path.join(root, "project-files", "iou", router.node_id)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "NETMAP"), "w") as netmap:
            netmap.write(gns3_netmap(router.instance))
        folders[router.instance] = folder
    with open(os.path.join(root, f"{name}.gns3"), "w") as project:
        json.dump(project_json(routers, links), project, indent=4)
    return folders
