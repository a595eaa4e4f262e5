"""The simulated IOU: one instance program that behaves as IOU does, from its
command line to its netio directory (``instance``), the protocol-true frames it
sends (``frames``), the routers' chatter (``speaker``), numbered frames and
their check at the receiver (``numbered``, sent by ``streams``), the
benchmark's traffic straight to a peer (``peers``), a lab of such processes
(``lab``) and ``pcapng-iou demo`` on top of them (``demo``)."""
