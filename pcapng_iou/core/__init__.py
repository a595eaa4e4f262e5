"""The pure core: header codec, NETMAP, link types, the link table, PCAP-NG blocks,
the recorder and the link-type classifier.  Nothing here does I/O: every module
takes bytes, text and numbers and gives back the same, so each is tested in
memory."""
