"""pcapng-iou: record the traffic between Cisco IOU instances in one PCAP-NG file.

IOU routers exchange frames over UNIX datagram sockets in ``/tmp/netio<uid>``.
This package stands in for each instance's socket, forwards every datagram
unchanged and writes each frame to a PCAP-NG file with one interface per
NETMAP link, each with its own link type.
"""

__version__ = "0.2.0.dev0"
#: The command's name, as every message starts.
PROG = "pcapng-iou"
