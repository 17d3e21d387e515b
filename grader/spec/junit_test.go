package spec

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// junitDoc reads back what WriteJUnit writes, element by element, as a CI system reads it.
type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    string   `xml:"tests,attr"`
	Failures string   `xml:"failures,attr"`
	Errors   string   `xml:"errors,attr"`
	Skipped  string   `xml:"skipped,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    string `xml:"tests,attr"`
		Failures string `xml:"failures,attr"`
		Errors   string `xml:"errors,attr"`
		Skipped  string `xml:"skipped,attr"`
		Time     string `xml:"time,attr"`
		Props    []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Classname string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
			Time      string `xml:"time,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestWriteJUnit(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(r *Report)
		counts   [4]string         // tests, failures, errors, skipped
		failures map[string]string // test case name to a part of its failure's text
		skipped  []string
	}{
		{"a failure", func(r *Report) {}, [4]string{"4", "1", "0", "0"},
			map[string]string{"1.7 keep-alive": "       try: printf 'GET /hello HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' | nc 127.0.0.1 4000\n"}, nil},
		{"a problem, a spec left out", func(r *Report) {
			r.Results = r.Results[:1]
			r.Problems = []string{"processes left behind: pid 12 (sleep 30), still running"}
			r.Unread = []string{"3.1 epoll through x/sys/unix"}
		}, [4]string{"3", "1", "0", "1"}, map[string]string{RunCase: "processes left behind: pid 12"}, []string{"3.1 epoll through x/sys/unix"}},
		{"a build failure", func(r *Report) {
			r.Results = NotRun([]Spec{{ID: "1.1", Title: "GET /hello is answered", Points: 2}}, "the build failed")
			r.Problems = []string{"the build of chapters/01-blocking failed: fix the compiler errors below"}
			r.Output = "./server.go:3:1: syntax error\x00"
		}, [4]string{"2", "2", "0", "0"}, map[string]string{
			"1.1 GET /hello is answered": "not run: the build failed",
			RunCase:                      "./server.go:3:1: syntax error\uFFFD",
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := sampleReport()
			r.Duration = 1234567 * time.Microsecond
			r.Notice = "your server calls http1.ReadRequest"
			tc.edit(r)
			var b bytes.Buffer
			require.NoError(t, r.WriteJUnit(&b))
			require.True(t, strings.HasPrefix(b.String(), `<?xml version="1.0" encoding="UTF-8"?>`+"\n<testsuites "), b.String())

			var doc junitDoc
			require.NoError(t, xml.Unmarshal(b.Bytes(), &doc), b.String())
			require.Len(t, doc.Suites, 1)
			s := doc.Suites[0]
			require.Equal(t, tc.counts[:3], []string{doc.Tests, doc.Failures, doc.Errors})
			require.Empty(t, doc.Skipped, "junit-10.xsd has no skipped count on testsuites")
			require.Equal(t, tc.counts, [4]string{s.Tests, s.Failures, s.Errors, s.Skipped})
			require.Equal(t, "chapter 1: blocking", s.Name)
			require.Equal(t, "1.235", s.Time, "seconds, three decimals")
			props := map[string]string{}
			for _, p := range s.Props {
				props[p.Name] = p.Value
			}
			require.Equal(t, "chapters/01-blocking", props["target"])
			require.Equal(t, r.Notice, props["notice"])
			require.Equal(t, "7", props["seed"])
			var failed, skipped []string
			for _, c := range s.Cases {
				require.Equal(t, "chapter1", c.Classname)
				require.NotEmpty(t, c.Time)
				if c.Failure != nil {
					failed = append(failed, c.Name)
					require.Contains(t, c.Failure.Text, tc.failures[c.Name], c.Name)
					require.NotContains(t, c.Failure.Message, "\n")
				}
				if c.Skipped != nil {
					skipped = append(skipped, c.Name)
				}
			}
			require.ElementsMatch(t, keysOf(tc.failures), failed)
			require.Equal(t, tc.skipped, skipped)
			require.Equal(t, RunCase, s.Cases[len(s.Cases)-1].Name, "the run as a whole comes last")
		})
	}
}

func keysOf(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
