package mutants

// chapter1 are the bugs of a blocking server: what a learner gets wrong writing chapter 1's request reader
// and request loop (the reference answer is chapters/http1), and in the framing of the gateway's responses.
var chapter1 = []Mutant{
	// Parsing the request.
	{
		Name: "header-name-case-sensitive", Chapter: 1, File: gatewayGateway,
		Old:     `if strings.EqualFold(h.Name, name) && !yield(h.Value) {`,
		New:     `if h.Name == name && !yield(h.Value) {`,
		Bug:     "Header names are compared as written, so \"host\" is not Host.",
		Shows:   "GET /hello HTTP/1.1 with \"host: 127.0.0.1\" gets 400 (no Host), not 200.",
		Killers: []string{"1.2"},
	},
	{
		Name: "connection-token-case-sensitive", Chapter: 1, File: gatewayGateway,
		Old:     `if strings.EqualFold(strings.TrimSpace(t), token) {`,
		New:     `if strings.TrimSpace(t) == token {`,
		Bug:     "The tokens of Connection are compared case-sensitively, so \"Connection: Close\" keeps the connection open.",
		Shows:   "GET /hello HTTP/1.1 with \"Connection: Close\" gets a response without Connection: close, and the connection stays open.",
		Killers: []string{"1.8"},
	},
	{
		Name: "value-not-trimmed", Chapter: 1, File: http1Request,
		Old:     `value = bytes.Trim(value, " \t")`,
		New:     `value = bytes.TrimLeft(value, " ")`,
		Bug:     "Only the spaces before a header value are stripped, not the tabs or the whitespace after it.",
		Shows:   "GET /env with \"X-Spaces:   two words  \" shows HTTP_X_SPACES \"two words  \".",
		Killers: []string{"1.2"},
	},
	{
		Name: "header-name-trimmed", Chapter: 1, File: http1Request,
		Old: `		return gateway.Header{}, errorf(400, "header line without a colon: %q", clip(string(line)))
	}
`,
		New: `		return gateway.Header{}, errorf(400, "header line without a colon: %q", clip(string(line)))
	}
	name = bytes.TrimRight(name, " \t")
`,
		Bug:     "Whitespace between a header name and its colon is trimmed away instead of refused (RFC 9112 section 5.1).",
		Shows:   "GET /hello with \"X-Space : value\" gets 200, not 400.",
		Killers: []string{"1.13"},
	},
	{
		Name: "http10-needs-host", Chapter: 1, File: http1Request,
		Old:     `case n == 0 && req.Minor >= 1:`,
		New:     `case n == 0:`,
		Bug:     "Every request must have a Host header, HTTP/1.0 ones too, which need none.",
		Shows:   "GET /hello HTTP/1.0 without Host gets 400, not 200.",
		Killers: []string{"1.9"},
	},
	{
		Name: "http10-two-hosts-accepted", Chapter: 1, File: http1Request,
		Old:     `case n > 1:`,
		New:     `case n > 1 && req.Minor >= 1:`,
		Bug:     "The one-Host rule is applied to HTTP/1.1 requests only, though RFC 9112 section 3.2 refuses several Host headers in any request.",
		Shows:   "GET /hello HTTP/1.0 with two Host headers gets 200, not 400.",
		Killers: []string{"1.3"},
	},
	{
		Name: "http2-version-served", Chapter: 1, File: http1Request,
		Old:     `if major != 1 {`,
		New:     `if major == 0 {`,
		Bug:     "Only HTTP/0.x is refused, so a request in another major version is served as if it were HTTP/1.1.",
		Shows:   "GET /hello HTTP/2.0 gets 200, not 505 HTTP Version Not Supported.",
		Killers: []string{"1.13"},
	},
	{
		Name: "control-chars-accepted", Chapter: 1, File: http1Request,
		Old: `	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return gateway.Header{}, errorf(400, "control character in the value of header %q", name)
		}
	}
`,
		New:     "",
		Bug:     "Header values are not checked for control characters, which RFC 9110 section 5.5 says to refuse.",
		Shows:   "GET /env with \"X-A: a\\x00b\" (a NUL byte in the value) gets 200 and the app sees the NUL, not 400.",
		Killers: []string{"1.13"},
	},

	// Limits.
	{
		Name: "request-line-limit-off-by-one", Chapter: 1, File: http1Request,
		Old:     `if len(frag) > max {`,
		New:     `if len(frag) >= max {`,
		Bug:     "A request line exactly as long as the limit is refused.",
		Shows:   "GET with a request line of exactly 8192 bytes (CRLF excluded) gets 414, not an answer.",
		Killers: []string{"1.29", "1.14"},
	},
	{
		Name: "header-count-off-by-one", Chapter: 1, File: http1Request,
		Old:     `if s.fields == lim.MaxHeaders {`,
		New:     `if s.fields > lim.MaxHeaders {`,
		Bug:     "The header fields are counted one too far, so 101 fields pass the limit of 100.",
		Shows:   "GET /hello with 101 header fields gets 200, not 431.",
		Killers: []string{"1.15"},
	},
	{
		Name: "header-bytes-without-crlf", Chapter: 1, File: http1Request,
		Old:     `s.size += len(line) + 2`,
		New:     `s.size += len(line)`,
		Bug:     "The size of the header section counts the text of each line but not its CRLF.",
		Shows:   "GET /hello with header lines of 8,072 bytes in all, 8,196 with their CRLFs, gets 200, not 431.",
		Killers: []string{"1.29", "1.16"},
	},
	{
		Name: "max-body-off-by-one", Chapter: 1, File: http1Request,
		Old:     `if n > lim.MaxBody {`,
		New:     `if n >= lim.MaxBody {`,
		Bug:     "A Content-Length exactly at -max-body is refused.",
		Shows:   "POST /echo with a body of exactly -max-body bytes gets 413, not 200.",
		Killers: []string{"1.29", "1.17"},
	},
	{
		Name: "chunked-limit-per-chunk", Chapter: 1, File: http1Request,
		Old:     `if c.total > c.lim.MaxBody {`,
		New:     `if n > c.lim.MaxBody {`,
		Bug:     "Each chunk of a chunked body is checked against -max-body, not their total.",
		Shows:   "POST /echo with a chunked body of 1.5 MiB in 64 KiB chunks gets 200, not 413 (-max-body 1 MiB).",
		Killers: []string{"1.17"},
	},
	{
		Name: "no-lingering-close", Chapter: 1, File: http1Conn,
		Old: `			if Refuse(bw, err) {
				Linger(conn)
			}
`,
		New: "			Refuse(bw, err)\n",
		Bug: "The connection is closed right after a refusal while the client is still sending its body.",
		Equivalent: "the close with unread bytes sends a reset after the 413, and Linux keeps the bytes that came before a reset readable " +
			"(tcp_recvmsg reads the queue before it reports the error): a client on the grader's machine, over loopback, reads the 413 " +
			"every time (20 of 20 tries with a 2 MiB body sent before reading); a client across a network, whose reset may overtake the " +
			"413, or on another system would lose it.",
	},

	// Framing the body.
	{
		Name: "signed-content-length", Chapter: 1, File: http1Request,
		Old: `			if s == "" || len(s) > 18 || strings.TrimLeft(s, "0123456789") != "" {
				return 0, errorf(400, "bad Content-Length %q", clip(s))
			}
			m, _ := strconv.ParseInt(s, 10, 64)
`,
		New: `			m, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, errorf(400, "bad Content-Length %q", clip(s))
			}
`,
		Bug:     "Content-Length is parsed with strconv.ParseInt, which takes a sign: \"+5\" is 5 and \"-1\" reads the body as chunked.",
		Shows:   "POST /echo with \"Content-Length: -1\" and a chunked body gets 200 with the body echoed; \"Content-Length: +5\" gets 200 too; the reference answers 400 to both.",
		Killers: []string{"1.26"},
	},
	{
		Name: "first-content-length-wins", Chapter: 1, File: http1Request,
		Old:     `n, err := parseContentLength(cl)`,
		New:     `n, err := parseContentLength(cl[:1])`,
		Bug:     "Only the first Content-Length header is read, so two that disagree are not noticed.",
		Shows:   "POST /echo with Content-Length: 5 and Content-Length: 6 gets 200, not 400.",
		Killers: []string{"1.20"},
	},
	{
		Name: "te-overrides-cl", Chapter: 1, File: http1Request,
		Old: `	case len(te) > 0 && len(cl) > 0:
		// The classic request smuggling vector: two framings that two servers in a chain may read differently.
		return 0, errorf(400, "both Transfer-Encoding and Content-Length (request smuggling?)")
`,
		New:     "",
		Bug:     "Transfer-Encoding wins over Content-Length, as RFC 7230 allowed, instead of refusing the pair.",
		Shows:   "POST /echo with Content-Length: 5 and Transfer-Encoding: chunked, then GET /hello in the same write, gets two answers, not a 400 and a close.",
		Killers: []string{"1.19"},
	},
	{
		Name: "transfer-coding-case-sensitive", Chapter: 1, File: http1Request,
		Old:     `codings = append(codings, strings.ToLower(strings.TrimSpace(c)))`,
		New:     `codings = append(codings, strings.TrimSpace(c))`,
		Bug:     "Transfer codings are compared case-sensitively, though RFC 9112 section 7 says they are not.",
		Shows:   "POST /echo with \"Transfer-Encoding: Chunked\" gets 501, not 200.",
		Killers: []string{"1.28"},
	},
	{
		Name: "short-body-accepted", Chapter: 1, File: http1Request,
		Old:     `func LengthBody(r io.Reader, n int64) io.Reader { return &lengthReader{r: r, n: n} }`,
		New:     `func LengthBody(r io.Reader, n int64) io.Reader { return io.LimitReader(r, n) }`,
		Bug:     "The body is read with io.LimitReader, so a connection that ends before Content-Length bytes makes a shorter body, not a bad request.",
		Shows:   "POST /echo with Content-Length: 10, 3 bytes, then the end of the stream gets 200 and the 3 bytes, not 400.",
		Killers: []string{"1.4"},
	},
	{
		Name: "unread-body-not-skipped", Chapter: 1, File: http1Answer,
		Old: `	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		return false
	}
`,
		New:     "",
		Bug:     "The part of a body the app did not read is left on the connection.",
		Shows:   "POST /hello with a 5-byte body the app ignores, then GET /hello on the same connection: the body is read as the next request line (400).",
		Killers: []string{"1.25", "1.23"},
	},
	{
		Name: "expect-continue-not-flushed", Chapter: 1, File: http1Answer,
		Old: `			if err := bw.Flush(); err != nil {
				return false
			}
`,
		New:     "",
		Bug:     "The 100 Continue interim response is written but not flushed, so it waits in the buffer for the final response.",
		Shows:   "POST /echo with Expect: 100-continue and Content-Length: 5, whose client waits for 100 Continue before it sends the body, gets nothing until it gives up waiting (curl: 1 s).",
		Killers: []string{"1.31"},
	},
	{
		Name: "chunk-size-decimal", Chapter: 1, File: http1Request,
		Old:     `n, err := strconv.ParseInt(string(size), 16, 64)`,
		New:     `n, err := strconv.ParseInt(string(size), 10, 64)`,
		Bug:     "Chunk sizes are read in decimal, not hex.",
		Shows:   "A chunked POST /echo with a chunk of size \"F\" gets 400, and one of size \"10\" reads 10 bytes instead of 16.",
		Killers: []string{"1.5"},
	},
	{
		Name: "chunk-extension-kept", Chapter: 1, File: http1Request,
		Old:     `size, _, ext := bytes.Cut(line, []byte(";"))`,
		New:     `size, ext := line, false`,
		Bug:     "Chunk extensions are not cut off the chunk-size line before it is parsed.",
		Shows:   "A chunked POST /echo with \"5;name=value\" as a chunk-size line gets 400, not 200.",
		Killers: []string{"1.5"},
	},
	{
		Name: "trailers-not-read", Chapter: 1, File: http1Request,
		Old:     `if _, err := ReadHeader(c.br, c.lim); err != nil {`,
		New:     `if _, err := readLine(c.br, MaxChunkLine); err != nil {`,
		Bug:     "After the last chunk only one line is read, as if there were never trailer fields.",
		Shows:   "A chunked POST /echo with two trailer fields, then GET /hello on the same connection: the second trailer is read as the next request (400).",
		Killers: []string{"1.5"},
	},
	{
		Name: "chunk-crlf-unchecked", Chapter: 1, File: http1Request,
		Old: `	b, err := c.br.ReadByte()
	if err == nil && b == '\r' {
		b, err = c.br.ReadByte()
	}
	if err != nil {
		return c.fail(err, "line ending after chunk data")
	}
	if b != '\n' {
		return errorf(400, "chunk data longer than its declared size")
	}
	return nil
`,
		New: `	if _, err := c.br.Discard(2); err != nil {
		return c.fail(err, "line ending after chunk data")
	}
	return nil
`,
		Bug:     "The two bytes after chunk data are skipped without checking that they are CRLF.",
		Shows:   "A chunked POST /echo of \"5\\r\\nhelloXX3\\r\\nabc\\r\\n0\\r\\n\\r\\n\" gets 200 and \"helloabc\", not 400: data longer than its chunk size goes unnoticed.",
		Killers: []string{"1.27"},
	},

	// Keep-alive and the request loop.
	{
		Name: "bufio-reader-per-request", Chapter: 1, File: http1Conn,
		Old:     "\t\tif _, err := br.Peek(1); err != nil {\n",
		New:     "\t\tbr = bufio.NewReader(conn)\n\t\tif _, err := br.Peek(1); err != nil {\n",
		Bug:     "A new bufio.Reader is made for each request, which drops the bytes the last one read ahead.",
		Shows:   "Three requests sent in one write get one answer, then silence.",
		Killers: []string{"1.6"},
	},
	{
		Name: "conn-not-closed", Chapter: 1, File: http1Conn,
		Old:     "\tdefer conn.Close()\n",
		New:     "",
		Bug:     "The request loop returns without closing the connection.",
		Shows:   "GET /hello with Connection: close gets its answer, then the connection stays open.",
		Killers: []string{"1.8", "1.9"},
	},
	{
		Name: "no-connection-close-header", Chapter: 1, File: gatewayResponse,
		Old: `	case !keep:
		b.WriteString("Connection: close\r\n")
`,
		New:     "\tcase !keep:\n",
		Bug:     "The server closes the connection after a response without saying so in a Connection: close header.",
		Shows:   "GET /hello with Connection: close gets a response without Connection: close, then the close.",
		Killers: []string{"1.8"},
	},
	{
		Name: "http10-keep-alive-not-said", Chapter: 1, File: gatewayResponse,
		Old: `	case req.Minor == 0:
		b.WriteString("Connection: keep-alive\r\n")
`,
		New:     "\tcase req.Minor == 0:\n",
		Bug:     "An HTTP/1.0 connection kept alive is not told so with Connection: keep-alive, so the client waits for a close that does not come.",
		Shows:   "GET /hello HTTP/1.0 with Connection: keep-alive gets a response without Connection: keep-alive, and the connection stays open.",
		Killers: []string{"1.9"},
	},
	{
		Name: "http10-chunked", Chapter: 1, File: gatewayResponse,
		Old: `		if req.Major == 1 && req.Minor >= 1 {
			chunked = !head
		} else {
			keep = false // HTTP/1.0 without a length: the end of the body is the close
		}
`,
		New:     "\t\tchunked = !head\n",
		Bug:     "A body of unknown length is sent chunked whatever the version, though an HTTP/1.0 client cannot read chunked.",
		Shows:   "GET /stream?chunks=2&bytes=3 HTTP/1.0 gets Transfer-Encoding: chunked; the reference sends the body and closes.",
		Killers: []string{"1.30", "1.9"},
	},
	{
		Name: "last-chunk-missing", Chapter: 1, File: gatewayResponse,
		Old:     `io.WriteString(w, "0\r\n\r\n")`,
		New:     `io.WriteString(w, "0\r\n")`,
		Bug:     "A chunked response ends with the last chunk but without the empty line after it.",
		Shows:   "GET /stream?chunks=2&bytes=3 gets a chunked body that never ends: the client waits for the final CRLF, and reads it as the start of the next response.",
		Killers: []string{"1.30"},
	},
	{
		Name: "head-sends-body", Chapter: 1, File: gatewayResponse,
		Old:     `if head || !bodyAllowed(r.code) {`,
		New:     `if !bodyAllowed(r.code) {`,
		Bug:     "A response to HEAD is sent with its body.",
		Shows:   "HEAD /hello gets \"Hello, World!\\n\" after its headers.",
		Killers: []string{"1.10"},
	},

	// The gateway.
	{
		Name: "app-panic-not-recovered", Chapter: 1, File: gatewayResponse,
		Old: `	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("app panicked: %v", p)
		}
	}()
	return app(env, start)
`,
		New:     "\treturn app(env, start)\n",
		Bug:     "A panic in the app is not recovered, so one bad request takes the server down.",
		Shows:   "GET /panic kills the server; the reference answers 500 and goes on.",
		Killers: []string{"1.12"},
	},
	{
		Name: "body-not-closed", Chapter: 1, File: gatewayResponse,
		Old:     "\tdefer body.Close()\n",
		New:     "",
		Bug:     "The app's body is never closed, which PEP 3333 requires of the server whatever happened.",
		Shows:   "After GET /hello, GET /stats still counts the call in flight (its body was never closed).",
		Killers: []string{"1.11"},
	},
	{
		Name: "path-not-decoded", Chapter: 1, File: gatewayEnviron,
		Old:     `path, perr := url.PathUnescape(rawPath)`,
		New:     `path, perr := rawPath, error(nil)`,
		Bug:     "PATH_INFO is the raw path, not the percent-decoded one.",
		Shows:   "GET /%65nv gets 404, not the environ.",
		Killers: []string{"1.11"},
	},
	{
		Name: "content-type-case-sensitive", Chapter: 1, File: gatewayEnviron,
		Old:     `if strings.EqualFold(name, "Content-Type") {`,
		New:     `if name == "Content-Type" {`,
		Bug:     "Content-Type becomes CONTENT_TYPE only when spelt that way.",
		Shows:   "GET /env with \"content-type: text/plain\" shows HTTP_CONTENT_TYPE and an empty CONTENT_TYPE.",
		Killers: []string{"1.11"},
	},
	{
		Name: "server-name-with-port", Chapter: 1, File: gatewayEnviron,
		Old: `	} else if host := v["HTTP_HOST"]; host != "" {
		v["SERVER_NAME"] = hostName(host)
`,
		New: `	} else if host := v["HTTP_HOST"]; host != "" {
		v["SERVER_NAME"] = host
`,
		Bug:     "SERVER_NAME is the Host header as sent, port included.",
		Shows:   "GET /env with Host: 127.0.0.1:8080 shows SERVER_NAME \"127.0.0.1:8080\", not \"127.0.0.1\".",
		Killers: []string{"1.11"},
	},
	{
		Name: "server-protocol-fixed", Chapter: 1, File: gatewayEnviron,
		Old:     `v["SERVER_PROTOCOL"] = req.Proto`,
		New:     `v["SERVER_PROTOCOL"] = "HTTP/1.1"`,
		Bug:     "SERVER_PROTOCOL is always HTTP/1.1, whatever the request's version.",
		Shows:   "GET /env HTTP/1.0 shows SERVER_PROTOCOL \"HTTP/1.1\".",
		Killers: []string{"1.11"},
	},
	{
		Name: "date-not-cached", Chapter: 1, File: gatewayResponse,
		Old:        "\tlastDate.Store(d)\n",
		New:        "",
		Bug:        "The Date header line is formatted anew for every response instead of once a second.",
		Equivalent: "the same Date line is sent, only computed each time: it costs a little CPU and nothing a client can see.",
	},

	// Timeouts.
	{
		Name: "idle-deadline-not-set", Chapter: 1, File: http1Conn,
		Old:     "\t\tsetWaiting(true, wait)\n",
		New:     "\t\tmu.Lock()\n\t\twaiting = true\n\t\tmu.Unlock()\n\t\t_ = wait\n",
		Bug:     "The wait for a request sets no deadline of its own, so it runs under the last one set: none on a new connection, the body's on a kept-alive one.",
		Shows:   "A connection that sends nothing stays open for good; GET /hello, then nothing: the connection stays open for -body-timeout (30 s), not -idle-timeout (1 s).",
		Killers: []string{"1.21", "1.33"},
	},
	{
		Name: "idle-timeout-is-header-timeout", Chapter: 1, File: http1Conn,
		Old:     "\t\twait = s.IdleTimeout\n",
		New:     "",
		Bug:     "A kept-alive connection waits for its next request as long as a new one, -header-timeout, instead of -idle-timeout.",
		Shows:   "With -header-timeout 1s -idle-timeout 3s, GET /hello, then nothing: the connection is closed after 1 s, not 3.",
		Killers: []string{"1.21", "1.34"},
	},
	{
		Name: "body-deadline-missing", Chapter: 1, File: http1Conn,
		Old:     "\t\tconn.SetReadDeadline(time.Now().Add(s.BodyTimeout))\n",
		New:     "",
		Bug:     "No deadline is set for the body, so it is read under the header deadline, which was meant for the head only.",
		Shows:   "With -header-timeout 1s -body-timeout 5s, a POST /echo whose 2 MiB body arrives steadily over 2 s is cut off after 1 s.",
		Killers: []string{"1.34", "1.23"},
	},
	{
		Name: "write-deadline-once-per-connection", Chapter: 1, File: http1Conn,
		Old: `	wait := s.HeaderTimeout
	for {
		// Wait for the next request's first byte: a keep-alive connection's idle time.
		setWaiting(true, wait)
		if ctx.Err() != nil {
			return // stopping: no new wait (the wake may have run before it began)
		}
		if _, err := br.Peek(1); err != nil {
			return // closed by the client, idle too long, or shutting down
		}
		// From its first byte on, the whole head must come before one deadline: one
		// for each read would let a client sending a byte a second hold us forever.
		setWaiting(false, s.HeaderTimeout)
		req, err := ReadRequest(br, s.Limits)
		if err != nil {
			// The last response's write deadline may have passed while we waited.
			conn.SetWriteDeadline(time.Now().Add(s.WriteTimeout))
			if Refuse(bw, err) {
				Linger(conn)
			}
			return
		}
		// The app reads the body, then the response is written, by a later deadline.
		conn.SetReadDeadline(time.Now().Add(s.BodyTimeout))
		conn.SetWriteDeadline(time.Now().Add(s.BodyTimeout + s.WriteTimeout))
`,
		New: `	wait := s.HeaderTimeout
	conn.SetWriteDeadline(time.Now().Add(s.BodyTimeout + s.WriteTimeout))
	for {
		// Wait for the next request's first byte: a keep-alive connection's idle time.
		setWaiting(true, wait)
		if ctx.Err() != nil {
			return // stopping: no new wait (the wake may have run before it began)
		}
		if _, err := br.Peek(1); err != nil {
			return // closed by the client, idle too long, or shutting down
		}
		// From its first byte on, the whole head must come before one deadline: one
		// for each read would let a client sending a byte a second hold us forever.
		setWaiting(false, s.HeaderTimeout)
		req, err := ReadRequest(br, s.Limits)
		if err != nil {
			// The last response's write deadline may have passed while we waited.
			conn.SetWriteDeadline(time.Now().Add(s.WriteTimeout))
			if Refuse(bw, err) {
				Linger(conn)
			}
			return
		}
		// The app reads the body, then the response is written, by a later deadline.
		conn.SetReadDeadline(time.Now().Add(s.BodyTimeout))
`,
		Bug:     "The write deadline is set once, when the connection is accepted, so it runs out in the middle of a long-lived keep-alive connection.",
		Shows:   "With -body-timeout 1s -write-timeout 1s, a keep-alive connection that sends GET /hello every 0.5 s gets no answer after 2 s.",
		Killers: []string{"1.34", "1.24"},
	},
	{
		Name: "accept-error-stops-server", Chapter: 1, File: launchLaunch,
		Old: `		log.Printf("accept: %v", err)
		time.Sleep(100 * time.Millisecond)
`,
		New:     "\t\tlog.Printf(\"accept: %v\", err)\n\t\treturn nil, err\n",
		Bug:     "The accept loop gives up on any error of Accept, out of file descriptors too, instead of pausing and retrying.",
		Shows:   "Out of file descriptors (more connections at once than ulimit -n allows), the server exits; the reference waits and serves them once descriptors free up.",
		Killers: []string{"1.37"},
	},
}
