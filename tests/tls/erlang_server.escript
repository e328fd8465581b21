#!/usr/bin/env escript
%% -*- erlang -*-
%%
%% One-shot Erlang/OTP TLS server used by pki's integration tests to prove
%% that client certificates made by pki are accepted by Erlang's `ssl`
%% application, configured the way a Riak KV node checks client certs.
%%
%% Usage: erlang_server.escript CACERT CERTFILE KEYFILE
%%
%% stdout protocol (one line each, see README.md):
%%   PORT <n>         listening on 127.0.0.1:<n>, printed before accepting
%%   OK CN=<cn>       handshake done, client cert has exactly one CN   (exit 0)
%%   BADCN <n>        handshake done, but the cert has <n> != 1 CNs    (exit 3)
%%   FAIL <reason>    accept or handshake failed, reason as ~p         (exit 1)
%%   TIMEOUT          20 s guard timer fired                           (exit 2)
%% Everything else (OTP log reports, TLS alert notices) goes to stderr.

%% Compile instead of interpret: faster, and errors show real line numbers.
-mode(compile).

-define(ACCEPT_TIMEOUT, 10000).
-define(HANDSHAKE_TIMEOUT, 10000).
-define(GUARD_TIMEOUT, 20000).
-define(ID_AT_COMMON_NAME, {2,5,4,3}).

main([CaCert, CertFile, KeyFile] = Files) ->
    %% ssl only opens the files during the handshake; catch typos up front.
    [usage(F ++ ": no such file") || F <- Files, not filelib:is_regular(F)],
    %% Never hang: whatever happens, the VM is gone after 20 s.
    spawn(fun() -> timer:sleep(?GUARD_TIMEOUT), finish(2, "TIMEOUT", []) end),
    %% The default logger handler writes to stdout; move it to stderr so
    %% ssl's "SERVER ALERT" notices cannot corrupt the stdout protocol.
    ok = logger:remove_handler(default),
    ok = logger:add_handler(default, logger_std_h,
                            #{config => #{type => standard_error},
                              formatter => {logger_formatter, #{single_line => true}}}),
    %% Print CNs as UTF-8 (OTP 25 escripts default to Latin-1 stdout).
    ok = io:setopts(standard_io, [{encoding, unicode}]),
    %% Starts crypto, asn1 and public_key too (ssl depends on them).
    {ok, _} = application:ensure_all_started(ssl),
    Opts = [{versions, ['tlsv1.2']},         % Riak's R16 ssl has nothing newer
            {verify, verify_peer},           % check the client cert against CACERT...
            {fail_if_no_peer_cert, true},    % ...and refuse clients that send none
            {cacertfile, CaCert},
            {certfile, CertFile},
            {keyfile, KeyFile},              % PKCS#1 or PKCS#8 PEM, unencrypted
            {depth, 1},                      % R16 default, as Riak: peer + at most 1 intermediate
            {ciphers, ciphers()},
            {honor_cipher_order, true},      % so CBC wins whenever the client offers it
            {active, false}],
    {ok, Listen} = ssl:listen(0, [{ip, {127,0,0,1}} | Opts]),
    {ok, {_, Port}} = ssl:sockname(Listen),
    io:format("PORT ~b~n", [Port]),
    case ssl:transport_accept(Listen, ?ACCEPT_TIMEOUT) of
        {ok, Sock0} ->
            case ssl:handshake(Sock0, ?HANDSHAKE_TIMEOUT) of
                {ok, Sock} -> connected(Sock);
                {error, Reason} -> fail(Reason)
            end;
        {error, Reason} ->
            fail(Reason)
    end;
main(_) ->
    usage("wrong number of arguments").

usage(Why) ->
    io:format(standard_error, "~ts~nusage: erlang_server.escript CACERT CERTFILE KEYFILE~n", [Why]),
    erlang:halt(64, [{flush, true}]).

%% RSA-authenticated AES-CBC suites with SHA/SHA256 MACs, i.e. what Riak's old
%% R16 ssl negotiates. Clients with no CBC suites at all (rustls, for one)
%% would get no common suite, so RSA-authenticated AES-GCM suites follow as a
%% fallback; honor_cipher_order keeps CBC preferred. Set ERL_TLS_CBC_ONLY=1 to
%% drop the fallback and refuse anything but CBC. Filtered from `all`, not
%% `default`: OTP 21+ leaves RSA key exchange, and OTP 27+ CBC, out of `default`.
ciphers() ->
    All = ssl:cipher_suites(all, 'tlsv1.2'),
    Rsa = ssl:filter_cipher_suites(All, [{key_exchange, fun(K) -> lists:member(K, [ecdhe_rsa, rsa]) end}]),
    Cbc = ssl:filter_cipher_suites(Rsa, [{cipher, fun(C) -> lists:member(C, [aes_128_cbc, aes_256_cbc]) end},
                                        {mac, fun(M) -> lists:member(M, [sha, sha256]) end}]),
    Gcm = ssl:filter_cipher_suites(Rsa, [{cipher, fun(C) -> lists:member(C, [aes_128_gcm, aes_256_gcm]) end}]),
    case os:getenv("ERL_TLS_CBC_ONLY") of
        "1" -> Cbc;
        _ -> Cbc ++ Gcm
    end.

connected(Sock) ->
    {ok, Der} = ssl:peercert(Sock),
    case ssl:connection_information(Sock, [selected_cipher_suite]) of
        {ok, [{selected_cipher_suite, Suite}]} ->
            io:format(standard_error, "cipher ~s~n", [ssl:suite_to_str(Suite)]);
        _ -> ok
    end,
    case common_names(Der) of
        [Cn] ->
            %% Let the client see the session really carried data, then close.
            _ = ssl:send(Sock, ["hello ", Cn, "\n"]),
            _ = ssl:close(Sock),
            finish(0, "OK CN=~ts", [Cn]);
        Cns ->
            _ = ssl:close(Sock),
            finish(3, "BADCN ~b", [length(Cns)])
    end.

%% All id-at-commonName values in the subject, as UTF-8 binaries. Records
%% from public_key.hrl are matched as plain tuples because Debian ships the
%% .hrl only in erlang-dev.
common_names(Der) ->
    {'OTPCertificate', Tbs, _SigAlg, _Sig} = public_key:pkix_decode_cert(Der, otp),
    {rdnSequence, Rdns} = element(7, Tbs),   % #'OTPTBSCertificate'.subject
    [cn_string(V) || Rdn <- Rdns,
                     {'AttributeTypeAndValue', ?ID_AT_COMMON_NAME, V} <- Rdn].

cn_string({utf8String, B}) -> B;                                       % UTF-8 binary
cn_string({_Type, S}) when is_list(S) -> unicode:characters_to_binary(S); % printableString etc.
cn_string({_Type, B}) when is_binary(B) -> unicode:characters_to_binary(B, latin1);
cn_string(Other) -> iolist_to_binary(io_lib:format("~0p", [Other])).

fail(Reason) ->
    %% ~0p prints the whole term on one line; strip newlines just in case.
    Text = re:replace(io_lib:format("~0tp", [Reason]), "\\s*\\n\\s*", " ",
                      [global, unicode, {return, binary}]),
    finish(1, "FAIL ~ts", [Text]).

finish(Code, Fmt, Args) ->
    io:format(Fmt ++ "~n", Args),
    erlang:halt(Code, [{flush, true}]).
