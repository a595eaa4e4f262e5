"""The simulated IOU: one instance program that behaves as IOU does on its netio
directory (``instance``), the protocol-true frames it sends (``frames``), the
routers' chatter (``speaker``), a lab of such processes (``lab``) and
``pcapng-iou demo`` on top of them (``demo``)."""
