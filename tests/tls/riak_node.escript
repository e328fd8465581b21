#!/usr/bin/env escript
%% -*- erlang -*-
%%
%% A stand-in for a Riak KV 2.x node's protocol buffers port, as far as a
%% login goes, for `pki probe`'s tests (tests/probe.rs). It reproduces the
%% parts of riak_api and riak_core's security that decide a login:
%%
%%   1. frames of {packet, 4}: a 4-byte big-endian length, a 1-byte message
%%      code, the protobuf body (riak_api_pb_server);
%%   2. RpbStartTls (255) answered with 255, then the TLS handshake on the
%%      same socket: verify_peer, fail_if_no_peer_cert, the CA file given,
%%      TLS 1.2 only, the cipher suites asked for, optionally crl_check;
%%   3. RpbAuthReq (253) decided as riak_core_security decides a
%%      `certificate` source: the user exists, a source's CIDR holds the
%%      peer's address, and the certificate's CN lower-cased equals the user
%%      name sent; RpbAuthResp (254) or RpbErrorResp (0) "Authentication
%%      failed" (riak tells the client no more than that);
%%   4. RpbPingReq (1) answered with RpbPingResp (2), after a login only.
%%
%% Usage: riak_node.escript CACERT CERTFILE KEYFILE USERS CIDRS [OPTION...]
%%   USERS   comma-separated user names (as `riak-admin security add-user`)
%%   CIDRS   comma-separated IPv4 CIDRs with a certificate source for all users
%%   --ciphers cbc|gcm   cbc (default): RSA-authenticated AES-CBC with SHA/SHA256
%%                       MACs, what Basho's R16 offers; gcm: AES-GCM only
%%   --crl FILE URI      crl_check on; the CRL (PEM) in FILE is put in ssl's
%%                       CRL cache as the one at URI (the certificates'
%%                       distribution point), so nothing is fetched
%%
%% stdout, one line each (the tests read it; anything else goes to stderr):
%%   PORT <n>                          listening on 127.0.0.1:<n>
%%   TLS OK <protocol> <suite>         a handshake done
%%   TLS FAIL <reason>                 a handshake failed (reason as ~0p)
%%   AUTH OK <user>                    a login accepted
%%   AUTH FAIL <user> <why>            refused: unknown_user,
%%                                     no_matching_sources, common_name_mismatch
%%   PING                              a ping answered
%% It serves connections one after the other until killed; a guard ends it
%% after 120 s whatever happens.

-mode(compile).

-define(GUARD_TIMEOUT, 120000).
-define(IO_TIMEOUT, 10000).
-define(ID_AT_COMMON_NAME, {2,5,4,3}).

main([CaCert, CertFile, KeyFile, Users, Cidrs | Rest]) ->
    [usage(F ++ ": no such file") || F <- [CaCert, CertFile, KeyFile], not filelib:is_regular(F)],
    spawn(fun() -> timer:sleep(?GUARD_TIMEOUT), erlang:halt(2, [{flush, true}]) end),
    ok = logger:remove_handler(default),
    ok = logger:add_handler(default, logger_std_h,
                            #{config => #{type => standard_error},
                              formatter => {logger_formatter, #{single_line => true}}}),
    ok = io:setopts(standard_io, [{encoding, unicode}]),
    {ok, _} = application:ensure_all_started(ssl),
    Opts = options(Rest, #{ciphers => cbc, crl => none}),
    Tls = [{versions, ['tlsv1.2']},
           {verify, verify_peer},
           {fail_if_no_peer_cert, true},
           {cacertfile, CaCert},
           {certfile, CertFile},
           {keyfile, KeyFile},
           {depth, 1},
           {ciphers, ciphers(maps:get(ciphers, Opts))},
           {honor_cipher_order, true},
           {packet, 4},
           {active, false}] ++ crl(maps:get(crl, Opts)),
    Security = #{users => [list_to_binary(U) || U <- string:split(Users, ",", all), U =/= ""],
                 cidrs => [cidr(C) || C <- string:split(Cidrs, ",", all), C =/= ""]},
    {ok, Listen} = gen_tcp:listen(0, [binary, {ip, {127,0,0,1}}, {packet, 4},
                                      {active, false}, {reuseaddr, true}]),
    {ok, Port} = inet:port(Listen),
    say("PORT ~b", [Port]),
    serve(Listen, Tls, Security);
main(_) ->
    usage("wrong number of arguments").

usage(Why) ->
    io:format(standard_error, "~ts~nusage: riak_node.escript CACERT CERTFILE KEYFILE USERS CIDRS "
              "[--ciphers cbc|gcm] [--crl FILE URI]~n", [Why]),
    erlang:halt(64, [{flush, true}]).

options([], Acc) -> Acc;
options(["--ciphers", C | Rest], Acc) when C =:= "cbc"; C =:= "gcm" ->
    options(Rest, Acc#{ciphers => list_to_atom(C)});
options(["--crl", File, Uri | Rest], Acc) ->
    options(Rest, Acc#{crl => {File, Uri}});
options(Other, _) ->
    usage("bad option: " ++ lists:flatten(io_lib:format("~p", [Other]))).

%% Filtered from `all`, not `default`: OTP 21+ leaves RSA key exchange, and
%% OTP 27+ CBC, out of `default`.
ciphers(Kind) ->
    All = ssl:cipher_suites(all, 'tlsv1.2'),
    Rsa = ssl:filter_cipher_suites(All, [{key_exchange, fun(K) -> lists:member(K, [ecdhe_rsa, rsa]) end}]),
    case Kind of
        cbc -> ssl:filter_cipher_suites(Rsa, [{cipher, fun(C) -> lists:member(C, [aes_128_cbc, aes_256_cbc]) end},
                                             {mac, fun(M) -> lists:member(M, [sha, sha256]) end}]);
        gcm -> ssl:filter_cipher_suites(Rsa, [{cipher, fun(C) -> lists:member(C, [aes_128_gcm, aes_256_gcm]) end}])
    end.

%% check_crl: ssl's own CRL check, the CRL given in the cache under the
%% distribution point's URI, so the lookup never goes to the network (the
%% {http, 5000} option would fetch what is missing, as Riak does).
crl(none) -> [];
crl({File, Uri}) ->
    ok = ssl_crl_cache:insert(Uri, {file, File}),
    [{crl_check, true}, {crl_cache, {ssl_crl_cache, {internal, [{http, 5000}]}}}].

serve(Listen, Tls, Security) ->
    case gen_tcp:accept(Listen) of
        {ok, Sock} ->
            catch connection(Sock, Tls, Security),
            catch gen_tcp:close(Sock),
            serve(Listen, Tls, Security);
        {error, Reason} ->
            say("ACCEPT FAIL ~0p", [Reason]),
            erlang:halt(1, [{flush, true}])
    end.

connection(Sock, Tls, Security) ->
    case gen_tcp:recv(Sock, 0, ?IO_TIMEOUT) of
        {ok, <<255>>} ->
            ok = gen_tcp:send(Sock, <<255>>),
            case ssl:handshake(Sock, Tls, ?IO_TIMEOUT) of
                {ok, S} ->
                    {ok, [{protocol, P}, {selected_cipher_suite, Suite}]} =
                        ssl:connection_information(S, [protocol, selected_cipher_suite]),
                    say("TLS OK ~s ~s", [P, ssl:suite_to_str(Suite)]),
                    {ok, Der} = ssl:peercert(S),
                    {ok, {PeerIp, _}} = ssl:peername(S),
                    session(S, Der, PeerIp, Security, false);
                {error, Reason} ->
                    say("TLS FAIL ~0tp", [Reason])
            end;
        {ok, Other} ->
            say("PLAIN ~0p", [Other]);
        {error, Reason} ->
            say("PLAIN FAIL ~0p", [Reason])
    end.

session(S, Der, PeerIp, Security, LoggedIn) ->
    case ssl:recv(S, 0, ?IO_TIMEOUT) of
        {ok, <<253, Body/binary>>} ->
            Fields = pb_fields(Body),
            User = proplists:get_value(1, Fields, <<>>),
            case authenticate(User, Der, PeerIp, Security) of
                ok ->
                    say("AUTH OK ~ts", [User]),
                    ok = ssl:send(S, <<254>>),
                    session(S, Der, PeerIp, Security, true);
                {error, Why} ->
                    say("AUTH FAIL ~ts ~s", [User, Why]),
                    ok = ssl:send(S, error_resp(<<"Authentication failed">>)),
                    session(S, Der, PeerIp, Security, false)
            end;
        {ok, <<1>>} when LoggedIn ->
            say("PING", []),
            ok = ssl:send(S, <<2>>),
            session(S, Der, PeerIp, Security, LoggedIn);
        {ok, <<_Code, _/binary>>} ->
            ok = ssl:send(S, error_resp(<<"Please authenticate first">>)),
            session(S, Der, PeerIp, Security, LoggedIn);
        {error, _} ->
            ssl:close(S)
    end.

%% riak_core_security:authenticate/3 for a `certificate` source, in its order.
authenticate(User, Der, PeerIp, #{users := Users, cidrs := Cidrs}) ->
    Cn = string:lowercase(common_name(Der)),
    case lists:member(User, Users) of
        false -> {error, unknown_user};
        true ->
            case lists:any(fun(C) -> in_cidr(PeerIp, C) end, Cidrs) of
                false -> {error, no_matching_sources};
                true when Cn =:= User -> ok;
                true -> {error, common_name_mismatch}
            end
    end.

%% RpbErrorResp: field 1 errmsg (bytes), field 2 errcode (uint32, 0 as riak sends).
error_resp(Msg) ->
    <<0, 16#0a, (byte_size(Msg)), Msg/binary, 16#10, 0>>.

%% The length-delimited and varint fields of a protobuf message, as {Field, Value}.
pb_fields(<<>>) -> [];
pb_fields(Bin) ->
    {Key, Rest} = varint(Bin),
    case Key band 7 of
        0 -> {V, Rest2} = varint(Rest), [{Key bsr 3, V} | pb_fields(Rest2)];
        2 -> {Len, Rest2} = varint(Rest),
             <<V:Len/binary, Rest3/binary>> = Rest2,
             [{Key bsr 3, V} | pb_fields(Rest3)]
    end.

varint(Bin) -> varint(Bin, 0, 0).
varint(<<1:1, B:7, Rest/binary>>, Shift, Acc) -> varint(Rest, Shift + 7, Acc bor (B bsl Shift));
varint(<<0:1, B:7, Rest/binary>>, Shift, Acc) -> {Acc bor (B bsl Shift), Rest}.

cidr(Text) ->
    [Addr, Bits] = string:split(Text, "/"),
    {ok, Ip} = inet:parse_ipv4strict_address(Addr),
    {ip_int(Ip), list_to_integer(Bits)}.

in_cidr({_, _, _, _} = Ip, {Net, Bits}) ->
    Mask = (16#ffffffff bsl (32 - Bits)) band 16#ffffffff,
    ip_int(Ip) band Mask =:= Net band Mask;
in_cidr(_, _) -> false.

ip_int({A, B, C, D}) -> (A bsl 24) bor (B bsl 16) bor (C bsl 8) bor D.

%% The subject's one CN as a UTF-8 binary (records matched as tuples:
%% Debian ships public_key.hrl only in erlang-dev).
common_name(Der) ->
    {'OTPCertificate', Tbs, _SigAlg, _Sig} = public_key:pkix_decode_cert(Der, otp),
    {rdnSequence, Rdns} = element(7, Tbs),
    case [V || Rdn <- Rdns, {'AttributeTypeAndValue', ?ID_AT_COMMON_NAME, V} <- Rdn] of
        [{utf8String, B}] -> B;
        [{_, S}] when is_list(S) -> unicode:characters_to_binary(S);
        _ -> <<>>
    end.

say(Fmt, Args) ->
    io:format(Fmt ++ "~n", Args).
