"""The thin shell around the core: sockets (``relay``), the netio directory
(``netiodir``, ``repair``), inotify (``watcher``), the output file (``output``)
and the one ``selectors`` loop that ties them together (``capture``)."""
