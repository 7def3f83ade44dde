package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// newUser is Buildbot's `buildbot user`: the same --op, --ids, --info,
// --bb_username and --bb_password; --username/--passwd (Buildbot's PB
// login) are accepted and ignored: the admin token authenticates.
func newUser() *cobra.Command {
	o := &clientOptions{}
	var op string
	var ids, infos []string
	req := &messages.UserRequest{}
	var pbUser, pbPass string
	cmd := &cobra.Command{
		Use:   "user --op add|update|remove|get [--ids a,b] [--info TYPE=VALUE,…] [--bb_username N --bb_password P]",
		Short: "Manage the master's users (Buildbot's buildbot user)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, ok := messages.UserOp_value["USER_OP_"+strings.ToUpper(op)]
			if !ok || op == "" || v == 0 {
				return &ExitError{Code: ExitRejected, Err: fmt.Errorf("user: bad op %q, use 'add', 'remove', 'update', or 'get'", op)}
			}
			req.Op = messages.UserOp(v)
			for _, id := range ids {
				req.Ids = append(req.Ids, strings.Split(id, ",")...)
			}
			for _, info := range infos {
				attrs, err := parseInfo(info)
				if err != nil {
					return &ExitError{Code: ExitRejected, Err: err}
				}
				req.Info = append(req.Info, &messages.UserAttrs{Attrs: attrs})
			}
			c, err := o.dial()
			if err != nil {
				return err
			}
			req.Token = c.token
			res, err := request[*messages.UserResponse](c, paths.Users, req, o.timeout)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), res.GetText())
			return nil
		},
	}
	o.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&op, "op", "", "add, remove, update or get")
	f.StringArrayVar(&ids, "ids", nil, "users' identifiers, for remove and get (id1,id2; repeatable)")
	f.StringArrayVar(&infos, "info", nil, "user attributes TYPE=VALUE,… for add; ID:TYPE=VALUE,… for update (repeatable)")
	f.StringVar(&req.BbUsername, "bb_username", "", "web login name to set (update, with --bb_password)")
	f.StringVar(&req.BbPassword, "bb_password", "", "web password to set (update, with --bb_username); stored as an argon2id hash")
	f.StringVarP(&pbUser, "username", "u", "", "accepted for Buildbot compatibility; the admin token authenticates")
	f.StringVar(&pbPass, "passwd", "", "accepted for Buildbot compatibility; the admin token authenticates")
	return cmd
}

// parseInfo reads one --info as Buildbot does: "TYPE=VALUE,…", the first
// TYPE possibly "ID:TYPE" (update), or a bare identifier.
func parseInfo(s string) (map[string]string, error) {
	out := map[string]string{}
	items := strings.Split(s, ",")
	if len(items) == 1 && !strings.Contains(items[0], "=") {
		out["identifier"] = items[0]
		return out, nil
	}
	for _, item := range items {
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("user: --info %q: want TYPE=VALUE", item)
		}
		if id, typ, ok := strings.Cut(k, ":"); ok {
			out["identifier"], k = id, typ
		}
		out[k] = v
	}
	return out, nil
}

// newToken manages a user's API tokens.
func newToken() *cobra.Command {
	o := &clientOptions{}
	req := &messages.ApiTokenRequest{}
	cmd := &cobra.Command{
		Use:   "token create|list|revoke --user IDENTIFIER [--name N] [--id ID]",
		Short: "Create (shown once), list or revoke a user's API tokens",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, ok := messages.ApiTokenOp_value["API_TOKEN_OP_"+strings.ToUpper(args[0])]
			if !ok || v == 0 {
				return &ExitError{Code: ExitRejected, Err: fmt.Errorf("token: %q: want create, list or revoke", args[0])}
			}
			req.Op = messages.ApiTokenOp(v)
			c, err := o.dial()
			if err != nil {
				return err
			}
			req.Token = c.token
			res, err := request[*messages.ApiTokenResponse](c, paths.Users, req, o.timeout)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch req.Op {
			case messages.ApiTokenOp_API_TOKEN_OP_CREATE:
				fmt.Fprintf(out, "token %d for %s (shown once, keep it secret):\n%s\n", res.GetTokens()[0].GetId(), req.GetUser(), res.GetSecret())
			case messages.ApiTokenOp_API_TOKEN_OP_LIST:
				for _, t := range res.GetTokens() {
					fmt.Fprintf(out, "%d\t%s\t%s\n", t.GetId(), t.GetName(), time.Unix(t.GetCreatedAt(), 0).UTC().Format(time.RFC3339))
				}
			default:
				fmt.Fprintf(out, "token %d of %s revoked\n", req.GetId(), req.GetUser())
			}
			return nil
		},
	}
	o.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&req.User, "user", "", "the user's identifier")
	f.StringVar(&req.Name, "name", "", "a label for a new token")
	f.Uint64Var(&req.Id, "id", 0, "the token to revoke")
	return cmd
}
