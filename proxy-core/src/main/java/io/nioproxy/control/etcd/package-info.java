/**
 * Membership from etcd: the fleet's backends read, watched and written through etcd's v3 JSON gateway
 * ({@code EtcdClient}), applied to every listener's and pool's registry ({@code EtcdMembership}), one key per
 * backend ({@code MemberKey}).
 *
 * <p>Threading: the etcd watcher thread ({@code nioproxy-etcd}), the control thread (probes) and admin threads
 * (writes); see each class.
 */
package io.nioproxy.control.etcd;
