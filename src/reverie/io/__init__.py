"""Files in and out: images (:mod:`.images`), videos and animations (:mod:`.video`), the metadata a
result carries (:mod:`.metadata`), and the output-path rules and atomic writes they share
(:mod:`.paths`)."""
