"""The simulated IOU: one instance program that behaves as IOU does, from its
command line to its netio directory (``instance``), the protocol-true frames it
sends (``frames``), the routers' chatter (``speaker``), numbered frames and
their check at the receiver (``numbered``, sent by ``streams``), the
benchmark's traffic straight to a peer (``peers``) and a lab of such processes
(``lab``, which ``pcapng-iou demo`` runs); the bridges around them: GNS3's
ubridge (``bridges``, ``gns3``) and EVE-NG's wrapper (``wrapper`` bridges,
``iol_wrapper`` is its command line above the instance, ``evelab`` a lab of
both)."""
