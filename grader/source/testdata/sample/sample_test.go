package sample

import "net/http"

var _ = http.ListenAndServe
