package sample

import "net/http"

var _ = http.ListenAndServe
var _ = http.NewServeMux()
