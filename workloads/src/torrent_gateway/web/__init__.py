"""The HTTP toolkit every component's app is built with: the app shell (:mod:`.app`), request
dependencies and the error shape (:mod:`.deps`), body and header guards (:mod:`.guards`), byte
ranges (:mod:`.ranges`), responses that carry user bytes (:mod:`.responses`) and the public URLs
of a file (:mod:`.urls`). It knows no component.
"""
