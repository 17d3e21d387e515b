package spec

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// The JUnit XML that WriteJUnit writes has the shape that CI systems read (GitLab's unit test reports,
// Jenkins, the JUnit reporters of GitHub Actions), after junit-10.xsd, the schema of Jenkins' xUnit plugin
// that pytest's JUnit output follows too:
//
//	<testsuites name tests failures errors time>
//	  <testsuite name tests failures errors skipped time>
//	    <properties><property name value/>...</properties>
//	    <testcase classname name time>
//	      <failure message type>text</failure> | <skipped message/>
//	    </testcase>
//	  </testsuite>
//	</testsuites>
//
// GitLab names a test by classname and name and shows the text of a failure, not its message attribute, so
// the text holds the whole report of the spec. A spec that did not run earned nothing: it is a failure, not a
// skip; only a spec left out of the grade (Unread) is skipped.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure"`
	Skipped   *junitSkipped `xml:"skipped"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"` // kept as it prints, line breaks included; see xmlText
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// RunCase is the name of the JUnit test case that stands for the run as a whole: the build, data races,
// the server's stop and the processes it left. It fails when the report has Problems.
const RunCase = "the run: build, data races, stop on SIGTERM, nothing left running"

// WriteJUnit writes r to w as a JUnit XML document: a test case per spec, one for the run as a whole
// (RunCase), and the score as properties of the suite.
func (r *Report) WriteJUnit(w io.Writer) error {
	class := fmt.Sprintf("chapter%d", r.Chapter)
	suite := junitSuite{
		Name: fmt.Sprintf("chapter %d: %s", r.Chapter, r.Title),
		Time: seconds(r.Duration),
		Properties: []junitProperty{
			{"score", fmt.Sprint(r.Score)},
			{"total", fmt.Sprint(r.Total)},
			{"seed", fmt.Sprint(r.Seed)},
		},
	}
	if r.Target != "" {
		suite.Properties = append(suite.Properties, junitProperty{"target", r.Target})
	}
	if r.Notice != "" {
		suite.Properties = append(suite.Properties, junitProperty{"notice", r.Notice})
	}
	for _, n := range r.Notes {
		suite.Properties = append(suite.Properties, junitProperty{"note", n})
	}
	for i := range r.Results {
		res := &r.Results[i]
		c := junitCase{Classname: class, Name: res.ID + " " + res.Title, Time: seconds(res.Duration)}
		if !res.Passed {
			first, _, _ := strings.Cut(res.Message, "\n")
			kind := "failed"
			if !res.Ran {
				kind = "not run"
			}
			c.Failure = &junitFailure{
				Message: first,
				Type:    fmt.Sprintf("%s, %d/%d points", kind, res.Earned, res.Points),
				Text:    xmlText(plainResult(res)),
			}
		}
		suite.Cases = append(suite.Cases, c)
	}
	for _, u := range r.Unread {
		suite.Cases = append(suite.Cases, junitCase{Classname: class, Name: u, Time: "0",
			Skipped: &junitSkipped{Message: "not graded: it reads the Go code, and the grader ran a command"}})
		suite.Skipped++
	}
	run := junitCase{Classname: class, Name: RunCase, Time: "0"}
	if len(r.Problems) > 0 || r.Stopped != "" {
		text := strings.Join(r.Problems, "\n\n")
		if r.Output != "" {
			text += "\n\n" + r.Output
		}
		if r.Stopped != "" {
			text = strings.TrimLeft(text+"\n\nthe run was stopped before the end: "+r.Stopped, "\n")
		}
		first, _, _ := strings.Cut(text, "\n")
		run.Failure = &junitFailure{Message: first, Type: "problem", Text: xmlText(text)}
	}
	suite.Cases = append(suite.Cases, run)
	for _, c := range suite.Cases {
		suite.Tests++
		if c.Failure != nil {
			suite.Failures++
		}
	}
	doc := junitSuites{Name: "grader", Tests: suite.Tests, Failures: suite.Failures, Time: suite.Time,
		Suites: []junitSuite{suite}}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s%s\n", xml.Header, out)
	return err
}

// plainResult is the text report of one result, without colours: what a person reads under the failure.
func plainResult(res *Result) string {
	var b bytes.Buffer
	(&Printer{W: &b}).Result(res)
	return b.String()
}

// xmlText replaces what XML 1.0 cannot hold (section 2.2: control characters other than tab, CR and LF, and
// invalid UTF-8) with U+FFFD. Attributes are escaped by encoding/xml, but CDATA is written as it is.
func xmlText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF || r >= 0xD800 && r < 0xE000 {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
}

// seconds formats d as JUnit's time: seconds, with at most three decimals.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.3f", d.Seconds())
}
