package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildmaster/buildmaster/config"
)

// wwwOptions are the flags of the commands that read the master's data API
// (builds, logs, force --wait). Reads are plain HTTP GETs on the www
// listener: no actor system, no listener of the client's own, no connection
// the master opens back, so a read costs a few milliseconds.
type wwwOptions struct {
	www     string
	token   string
	dataDir string
}

// pollEvery is how often a following command (builds --follow, logs -f,
// force --wait) asks the data API what changed.
const pollEvery = 200 * time.Millisecond

// maxReply bounds what one data API reply may cost the client.
const maxReply = 64 << 20

func (o *wwwOptions) flags(cmd *cobra.Command) {
	o.wwwFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&o.token, "token", "", "admin token (default: $"+TokenEnv+", or DATA/"+TokenFile+")")
	f.StringVar(&o.dataDir, "data", dataDirDefault, "the master's data directory, to find the admin token")
}

// wwwFlag adds --www alone, for a command whose clientOptions already
// have --token and --data.
func (o *wwwOptions) wwwFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.www, "www", envOr(WWWEnv, "http://"+config.DefaultWWWAddr), "the master's www listener, a URL (or $"+WWWEnv+")")
}

// dataAPI is a client of one master's data API (/api/v2).
type dataAPI struct {
	base  string // the www URL, without a trailing slash
	token string // sent as a bearer token when known; reads need none today
	http  *http.Client
}

func (o *wwwOptions) client() (*dataAPI, error) {
	base := strings.TrimRight(o.www, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, &ExitError{Code: ExitRejected, Err: fmt.Errorf("--www %q: want a URL such as http://127.0.0.1:8010", o.www)}
	}
	// Reads are open; the token goes along when there is one, so that they
	// keep working once reads need it.
	token, _ := clientToken(o.token, o.dataDir)
	return &dataAPI{base: base, token: token, http: &http.Client{Timeout: time.Minute}}, nil
}

// errNotFound is a 404 from the data API.
var errNotFound = errors.New("not found")

func isNotFound(err error) bool { return errors.Is(err, errNotFound) }

// get GETs /api/v2/path (with its query) and decodes the JSON reply into v.
// A 404 wraps errNotFound; an unreachable master is ExitNoMaster.
func (c *dataAPI) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v2/"+path, nil)
	if err != nil {
		return &ExitError{Code: ExitRejected, Err: err}
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return &ExitError{Code: ExitNoMaster, Err: fmt.Errorf("cannot read the data API at %s: %w (is the master running? see --www or $%s)", c.base, err, WWWEnv)}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxReply))
	if err != nil {
		return &ExitError{Code: ExitNoMaster, Err: fmt.Errorf("GET %s: %w", req.URL.Path, err)}
	}
	if res.StatusCode != http.StatusOK {
		var e struct{ Error string }
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		err := fmt.Errorf("GET %s: %s: %s", req.URL.Path, res.Status, msg)
		if res.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%w: %w", errNotFound, err)
		}
		return &ExitError{Code: ExitNoMaster, Err: err}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &ExitError{Code: ExitNoMaster, Err: fmt.Errorf("GET %s: bad reply: %w", req.URL.Path, err)}
	}
	return nil
}

// The data API's rows, as much of them as the commands show.
type (
	apiBuild struct {
		ID             uint64 `json:"buildid"`
		Number         int32  `json:"number"`
		Builderid      uint64 `json:"builderid"`
		Buildrequestid uint64 `json:"buildrequestid"`
		Workerid       uint64 `json:"workerid"`
		StartedAt      int64  `json:"started_at"`
		CompleteAt     int64  `json:"complete_at"`
		Results        *int32 `json:"results"`
		StateString    string `json:"state_string"`
	}
	apiStep struct {
		ID       uint64 `json:"stepid"`
		Number   int32  `json:"number"`
		Name     string `json:"name"`
		Results  *int32 `json:"results"`
		Complete bool   `json:"complete"`
	}
	apiLog struct {
		ID       uint64 `json:"logid"`
		Name     string `json:"name"`
		Slug     string `json:"slug"`
		NumLines int64  `json:"num_lines"`
		Complete bool   `json:"complete"`
		Type     string `json:"type"`
	}
	apiRequest struct {
		ID       uint64 `json:"buildrequestid"`
		Complete bool   `json:"complete"`
		Results  *int32 `json:"results"`
	}
	named struct {
		Builderid uint64 `json:"builderid"`
		Workerid  uint64 `json:"workerid"`
		Name      string `json:"name"`
	}
)

func (c *dataAPI) builds(ctx context.Context, path string) ([]apiBuild, error) {
	var page struct{ Builds []apiBuild }
	err := c.get(ctx, path, &page)
	return page.Builds, err
}

// sleep waits pollEvery, or until ctx ends.
func sleep(ctx context.Context) error {
	t := time.NewTimer(pollEvery)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
